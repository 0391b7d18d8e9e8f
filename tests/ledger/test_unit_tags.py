"""The RFID tag recorded with a unit: stored with it, sealed, traced, looked up by its EPC."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest

from linectl.cli import main
from linectl.ledger import (
    Ledger,
    LedgerError,
    UnitResult,
    UnitTag,
    ValidationError,
    Verdict,
)
from linectl.ledger.batch_record import reject_counts
from standards.epc.binary import sgtin_epc
from tests.ledger.conftest import GTIN, new_batch, tamper
from tests.people import People

CPL = 7


def tag_of(serial: str, tid: str | None = "E2801160AABBCCDDEEFF0011") -> UnitTag:
    epc = sgtin_epc(GTIN, serial, CPL)
    return UnitTag(epc.hex, epc.pure_identity_uri, tid)


def test_a_unit_tag_is_stored_with_the_unit_and_shown_by_trace(ledger: Ledger) -> None:
    new_batch(ledger, n=2)
    a, b = ledger.take_for_encoding("B1", 2)
    ledger.record_units(
        [UnitResult(a, 1, Verdict.GOOD, tag=tag_of(a)), UnitResult(b, 2, Verdict.GOOD)]
    )
    unit = ledger.trace(a).unit
    assert unit is not None and unit.tag == tag_of(a)
    assert unit.tag.epc_uri == f"urn:epc:id:sgtin:9506000.013435.{a}"
    untagged = ledger.trace(b).unit
    assert untagged is not None and untagged.tag is None  # no tag read: no row


def test_a_tag_that_is_not_hex_words_refuses_the_whole_group(ledger: Ledger) -> None:
    new_batch(ledger, n=2)
    a, b = ledger.take_for_encoding("B1", 2)
    with pytest.raises(ValidationError, match=r"tag\.epc"):
        ledger.record_units(
            [
                UnitResult(a, 1, Verdict.GOOD, tag=tag_of(a)),
                UnitResult(b, 2, Verdict.GOOD, tag=UnitTag("30F4-zz")),
            ]
        )
    assert ledger.trace(a).unit is None  # nothing of the group was recorded


def test_an_edited_tag_row_is_refused_when_read(ledger: Ledger, ledger_path: Path) -> None:
    new_batch(ledger, n=1)
    (a,) = ledger.take_for_encoding("B1", 1)
    ledger.record_units([UnitResult(a, 1, Verdict.GOOD, tag=tag_of(a))])
    with tamper(ledger_path) as conn:
        conn.execute("UPDATE unit_tags SET epc = '30F4' || substr(epc, 5)")
    with pytest.raises(LedgerError, match=r"unit_tags row \d+ does not match its seal"):
        ledger.trace(a)
    report = ledger.verify_audit()  # and audit verify names it
    assert not report.ok and f"unit_tags row of serial {a}: row hash mismatch" in str(report)


def test_a_deleted_tag_row_is_found_by_audit_verify(ledger: Ledger, ledger_path: Path) -> None:
    new_batch(ledger, n=3)
    a, b, c = ledger.take_for_encoding("B1", 3)
    ledger.record_units(
        [UnitResult(a, 1, Verdict.GOOD, tag=tag_of(a)), UnitResult(b, 2, Verdict.GOOD)]
    )
    ledger.record_units([UnitResult(c, 3, Verdict.GOOD, tag=tag_of(c))])
    assert ledger.verify_audit().ok
    with tamper(ledger_path) as conn:
        conn.execute("DELETE FROM unit_tags WHERE epc = ?", (tag_of(c).epc,))
    report = ledger.verify_audit()
    assert not report.ok
    assert "unit_tags: the audit trail records 2 RFID tags recorded but the table holds 1" in str(
        report
    )


def test_the_holder_of_an_epc_is_the_commissioned_unit_that_carries_it(ledger: Ledger) -> None:
    new_batch(ledger, n=3)
    a, b, c = ledger.take_for_encoding("B1", 3)
    ledger.record_units(
        [
            UnitResult(a, 1, Verdict.GOOD, tag=tag_of(a)),
            UnitResult(b, 2, Verdict.REJECT, reason="rfid-mismatch", tag=tag_of(a)),
        ]
    )
    assert ledger.tags.holder(tag_of(a).epc) == a
    assert ledger.tags.holder(tag_of(a).epc.lower()) == a
    assert ledger.tags.holder(tag_of(b).epc) is None  # b was rejected: not commissioned
    assert ledger.tags.holder(tag_of(c).epc) is None  # c is still Encoded
    assert ledger.tags.holder("ABCD") is None  # not an EPC at all


def test_an_epc_is_held_by_a_commissioned_unit_with_its_gtin_and_serial_even_untagged(
    ledger: Ledger,
) -> None:
    new_batch(ledger, n=1)
    (a,) = ledger.take_for_encoding("B1", 1)
    ledger.record_units([UnitResult(a, 1, Verdict.GOOD)])  # a line that read no tags
    assert ledger.tags.holder(tag_of(a).epc) == a


def test_rfid_rejects_are_counted_under_their_reasons_and_the_batch_balances(
    ledger: Ledger,
) -> None:
    reasons = ["rfid-no-read", "rfid-weak", "rfid-mismatch", "rfid-duplicate", "rfid-weak"]
    new_batch(ledger, n=len(reasons) + 2)
    taken = ledger.take_for_encoding("B1", len(reasons) + 2)
    ledger.record_units(
        [UnitResult(s, i, Verdict.GOOD, tag=tag_of(s)) for i, s in enumerate(taken[:2])]
        + [
            UnitResult(s, 10 + i, Verdict.REJECT, reason=r)
            for i, (s, r) in enumerate(zip(taken[2:], reasons, strict=True))
        ]
    )
    ledger.close_work_order("B1", actor="alice")
    result = ledger.reconcile("B1")
    assert result.balanced and (result.commissioned, result.scrapped) == (2, 5)
    conn = sqlite3.connect(ledger.path)
    try:
        counts = reject_counts(conn, "B1")
    finally:
        conn.close()
    assert counts == {"rfid-no-read": 1, "rfid-weak": 2, "rfid-mismatch": 1, "rfid-duplicate": 1}
    assert ledger.verify_audit().ok


def test_linectl_trace_shows_the_tag_in_text_and_json(
    ledger: Ledger, capsys: pytest.CaptureFixture[str]
) -> None:
    new_batch(ledger, n=1)
    (a,) = ledger.take_for_encoding("B1", 1)
    tag = tag_of(a)
    ledger.record_units([UnitResult(a, 1, Verdict.GOOD, tag=tag)])
    people = People(ledger)
    people.add("qa.anna", "qa", "Anna QA")
    people.session("qa.anna")
    assert main(["--ledger", str(ledger.path), "trace", a]) == 0
    out = capsys.readouterr().out
    assert f"tag: EPC {tag.epc}  ({tag.epc_uri})  TID {tag.tid}" in out
    assert main(["--ledger", str(ledger.path), "trace", a, "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["unit"]["tag"] == {"epc": tag.epc, "epc_uri": tag.epc_uri, "tid": tag.tid}
