"""A batch's judged packs read back by seq, over a read-only connection to the ledger file."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from linectl.ledger import Ledger, LedgerError, UnitResult, Verdict
from linectl.ledger.unit_rows import UnitRow, batch_unit_rows
from tests.ledger.conftest import OTHER_GTIN, new_batch


def file_digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_every_judged_pack_of_the_batch_is_read_by_its_seq(
    ledger: Ledger, ledger_path: Path
) -> None:
    serials = new_batch(ledger, "B1", n=4)
    new_batch(ledger, "B2", n=2, gtin=OTHER_GTIN)
    encoded = ledger.take_for_encoding("B1", 3)
    ledger.record_units(
        [
            UnitResult(encoded[0], 11, Verdict.GOOD, grade="A"),
            UnitResult(encoded[1], 12, Verdict.REJECT, reason="no-read"),
            UnitResult(encoded[2], 13, Verdict.REJECT, reason="late"),
        ]
    )
    other = ledger.take_for_encoding("B2", 1)
    ledger.record_units([UnitResult(other[0], 11, Verdict.GOOD)])

    rows = batch_unit_rows(ledger_path, "B1")

    assert rows == {
        11: UnitRow(11, encoded[0], "good", None),
        12: UnitRow(12, encoded[1], "reject", "no-read"),
        13: UnitRow(13, encoded[2], "reject", "late"),
    }
    assert serials[3] not in {row.serial for row in rows.values()}  # encoded never: no unit
    assert batch_unit_rows(ledger_path, "B2") == {11: UnitRow(11, other[0], "good", None)}
    assert batch_unit_rows(ledger_path, "NONE") == {}


def test_reading_the_units_leaves_the_ledger_file_as_it_was(tmp_path: Path) -> None:
    path = tmp_path / "ledger.db"
    with Ledger(path) as ledger:
        new_batch(ledger, "B1", n=2)
        encoded = ledger.take_for_encoding("B1", 1)
        ledger.record_units([UnitResult(encoded[0], 1, Verdict.GOOD)])
    before = file_digest(path)
    assert list(batch_unit_rows(path, "B1")) == [1]
    assert file_digest(path) == before


def test_a_missing_ledger_file_is_a_ledger_error_and_is_not_created(tmp_path: Path) -> None:
    path = tmp_path / "nowhere.db"
    with pytest.raises(LedgerError, match=r"nowhere\.db"):
        batch_unit_rows(path, "B1")
    assert not path.exists()
