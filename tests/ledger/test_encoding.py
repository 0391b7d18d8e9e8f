"""The hot path: write-ahead to Encoded before printing, then verdicts commission or scrap."""

from __future__ import annotations

import json
import threading
from pathlib import Path

import pytest

from linectl.ledger import (
    IllegalTransition,
    Ledger,
    LineNote,
    SerialState,
    UnitResult,
    ValidationError,
    Verdict,
)
from tests.ledger.conftest import dump, new_batch, step_clock

S = SerialState


def test_serials_are_taken_oldest_first(ledger: Ledger) -> None:
    items = new_batch(ledger, n=5)
    assert ledger.take_for_encoding("B1", 2) == items[:2]
    assert ledger.take_for_encoding("B1") == items[2:3]
    assert ledger.state_counts("B1") == {S.ENCODED: 3, S.ALLOCATED: 2}


def test_a_short_pool_gives_what_it_has_then_nothing(ledger: Ledger) -> None:
    items = new_batch(ledger, n=3)
    assert ledger.take_for_encoding("B1", 10) == items
    assert ledger.take_for_encoding("B1", 10) == []


def test_taking_zero_is_refused(ledger: Ledger) -> None:
    new_batch(ledger, n=3)
    with pytest.raises(ValidationError, match="at least 1"):
        ledger.take_for_encoding("B1", 0)


def test_an_encoded_serial_survives_a_restart_and_is_never_handed_out_again(
    ledger_path: Path,
) -> None:
    with Ledger(ledger_path, clock=step_clock()) as ledger:
        items = new_batch(ledger, n=3)
        first = ledger.take_for_encoding("B1", 1)
    # no clean shutdown needed: the commit happened before take_for_encoding returned
    with Ledger(ledger_path, clock=step_clock()) as reopened:
        assert reopened.trace(first[0]).state is S.ENCODED
        assert reopened.take_for_encoding("B1", 5) == items[1:]


def test_taking_one_serial_is_one_small_transaction(ledger: Ledger) -> None:
    new_batch(ledger, n=50)
    statements: list[str] = []
    ledger._db.conn.set_trace_callback(statements.append)
    ledger.take_for_encoding("B1", 1)
    ledger._db.conn.set_trace_callback(None)
    verbs = [s.split()[0].upper() for s in statements]
    assert verbs.count("BEGIN") == 1
    assert verbs.count("COMMIT") == 1
    assert verbs[0] == "BEGIN" and verbs[-1] == "COMMIT"
    assert len(statements) <= 12


def test_the_pool_lookup_uses_an_index_not_a_table_scan(ledger: Ledger) -> None:
    plan = ledger._db.conn.execute(
        "EXPLAIN QUERY PLAN SELECT id, gtin, serial, batch, state FROM serials "
        "WHERE batch = ? AND state = ? ORDER BY id LIMIT ?",
        ("B1", 2, 1),
    ).fetchall()
    details = " ".join(str(row[-1]) for row in plan)
    assert "USING INDEX serials_by_batch_state" in details or "USING COVERING INDEX" in details
    assert "USE TEMP B-TREE" not in details


def test_threads_taking_serials_at_once_never_share_one(ledger: Ledger) -> None:
    new_batch(ledger, n=200)
    taken: list[list[str]] = [[] for _ in range(4)]

    def worker(slot: int) -> None:
        for _ in range(50):
            taken[slot].extend(ledger.take_for_encoding("B1", 1))

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    everything = [s for chunk in taken for s in chunk]
    assert len(everything) == len(set(everything)) == 200
    assert ledger.state_counts("B1") == {S.ENCODED: 200}


def test_verdicts_commission_good_packs_and_scrap_rejects(ledger: Ledger) -> None:
    new_batch(ledger, n=3)
    a, b, c = ledger.take_for_encoding("B1", 3)
    ledger.record_units(
        [
            UnitResult(a, 7, Verdict.GOOD, grade="A", printed_at="2025-03-01T08:00:00.000Z"),
            UnitResult(b, 8, Verdict.REJECT, grade="D", reason="low-grade"),
            UnitResult(c, 9, Verdict.REJECT, reason="late"),
        ]
    )
    assert ledger.trace(a).state is S.COMMISSIONED
    assert ledger.trace(b).state is S.LABEL_SCRAPPED
    unit = ledger.trace(b).unit
    assert unit is not None
    assert (unit.seq, unit.verdict, unit.grade, unit.reason) == (
        8,
        Verdict.REJECT,
        "D",
        "low-grade",
    )
    assert ledger.trace(c).history[-1].reason == "rejected: late (seq 9)"
    good = ledger.trace(a).unit
    assert good is not None and good.printed_at == "2025-03-01T08:00:00.000Z"


def test_a_reject_without_a_reason_is_refused(ledger: Ledger) -> None:
    new_batch(ledger, n=1)
    (a,) = ledger.take_for_encoding("B1")
    with pytest.raises(ValidationError, match="reason"):
        ledger.record_units([UnitResult(a, 1, Verdict.REJECT)])
    assert ledger.trace(a).state is S.ENCODED


def test_a_verdict_for_a_serial_never_encoded_refuses_the_whole_group(
    ledger: Ledger, ledger_path: Path
) -> None:
    items = new_batch(ledger, n=3)
    a, _ = ledger.take_for_encoding("B1", 2)
    before = dump(ledger_path)
    with pytest.raises(IllegalTransition) as caught:
        ledger.record_units([UnitResult(a, 1, Verdict.GOOD), UnitResult(items[2], 2, Verdict.GOOD)])
    assert caught.value.serial == items[2]
    assert caught.value.from_state is S.ALLOCATED
    assert dump(ledger_path) == before


def test_a_second_verdict_for_the_same_serial_is_refused(ledger: Ledger) -> None:
    new_batch(ledger, n=1)
    (a,) = ledger.take_for_encoding("B1")
    ledger.record_units([UnitResult(a, 1, Verdict.GOOD)])
    with pytest.raises(IllegalTransition, match="Commissioned -> LabelScrapped"):
        ledger.record_units([UnitResult(a, 1, Verdict.REJECT, reason="duplicate")])


def test_a_line_event_can_go_with_the_write_ahead_in_the_same_transaction(ledger: Ledger) -> None:
    items = new_batch(ledger, n=5)
    head = ledger.audit_head()

    def note(serials: list[str]) -> LineNote:
        return LineNote("line.assign", "for these packs", {"first_seq": 7, "serials": serials})

    assert ledger.take_for_encoding("B1", 2, actor="line", then=note) == items[:2]
    rows = ledger.audit_entries(after_id=head[0] if head else 0)
    assert [r.command for r in rows] == ["serials.encode", "line.assign"]
    assert json.loads(rows[1].after) == {"first_seq": 7, "serials": items[:2]}
    assert ledger.verify_audit().ok


def test_a_bad_line_event_refuses_the_write_ahead_too(ledger: Ledger) -> None:
    new_batch(ledger, n=5)

    def note(serials: list[str]) -> LineNote:
        return LineNote("serials.assign", "a ledger namespace", serials)

    with pytest.raises(ValidationError, match="ledger command"):
        ledger.take_for_encoding("B1", 2, then=note)
    assert ledger.state_counts("B1") == {S.ALLOCATED: 5}  # nothing changed
