"""One Verdict: the ledger records the line's verdict enum, stored as the text it always was."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

import drivers.interfaces
import linectl.ledger
import linectl.ledger.models
from linectl.ledger import Ledger, UnitResult, ValidationError, Verdict, verdict_of, verdict_text
from tests.ledger.conftest import new_batch


def test_the_ledger_verdict_is_the_drivers_verdict() -> None:
    assert linectl.ledger.Verdict is drivers.interfaces.Verdict
    assert linectl.ledger.models.Verdict is drivers.interfaces.Verdict  # no second enum


def test_verdicts_are_stored_as_good_and_reject_text(ledger: Ledger, ledger_path: Path) -> None:
    new_batch(ledger, n=2)
    a, b = ledger.take_for_encoding("B1", 2)
    ledger.record_units(
        [UnitResult(a, 1, Verdict.GOOD), UnitResult(b, 2, Verdict.REJECT, reason="no-read")]
    )
    conn = sqlite3.connect(ledger_path)
    try:
        stored = conn.execute("SELECT seq, verdict FROM units ORDER BY seq").fetchall()
    finally:
        conn.close()
    assert stored == [(1, "good"), (2, "reject")]


def test_a_unit_read_back_carries_the_enum_not_its_text(ledger: Ledger) -> None:
    new_batch(ledger, n=2)
    a, b = ledger.take_for_encoding("B1", 2)
    ledger.record_units(
        [UnitResult(a, 1, Verdict.GOOD), UnitResult(b, 2, Verdict.REJECT, reason="x")]
    )
    good, rejected = ledger.trace(a).unit, ledger.trace(b).unit
    assert good is not None and rejected is not None
    assert good.verdict is Verdict.GOOD and rejected.verdict is Verdict.REJECT


def test_no_verdict_is_refused_and_nothing_is_recorded(ledger: Ledger) -> None:
    new_batch(ledger, n=2)
    a, b = ledger.take_for_encoding("B1", 2)
    with pytest.raises(ValidationError, match="must be good or reject"):
        ledger.record_units([UnitResult(a, 1, Verdict.GOOD), UnitResult(b, 2, Verdict.NONE)])
    assert ledger.trace(a).unit is None


def test_the_stored_text_is_accepted_as_a_verdict(ledger: Ledger) -> None:
    new_batch(ledger, n=1)
    (a,) = ledger.take_for_encoding("B1", 1)
    ledger.record_units([UnitResult(a, 1, "good")])  # type: ignore[arg-type]
    unit = ledger.trace(a).unit
    assert unit is not None and unit.verdict is Verdict.GOOD


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (Verdict.GOOD, Verdict.GOOD),
        (Verdict.REJECT, Verdict.REJECT),
        ("good", Verdict.GOOD),
        ("reject", Verdict.REJECT),
        (Verdict.NONE, None),
        ("GOOD", None),
        (1, None),
        (None, None),
    ],
)
def test_verdict_of_knows_only_good_and_reject(value: object, expected: Verdict | None) -> None:
    assert verdict_of(value) is expected


def test_verdict_text_round_trips() -> None:
    for verdict in (Verdict.GOOD, Verdict.REJECT):
        assert verdict_of(verdict_text(verdict)) is verdict
    with pytest.raises(KeyError):
        verdict_text(Verdict.NONE)
