"""The hash-chained audit trail: one row per command, and tampering with the file shows."""

from __future__ import annotations

import itertools
import json
import sqlite3
from pathlib import Path

import pytest

from linectl.ledger import IllegalTransition, Ledger, SerialState
from linectl.ledger.audit import GENESIS_HASH, compute_row_hash
from tests.ledger.conftest import new_batch, serials, step_clock, tamper


def drop_guards(conn: sqlite3.Connection) -> None:
    conn.execute("DROP TRIGGER audit_no_update")
    conn.execute("DROP TRIGGER audit_no_delete")


@pytest.fixture
def busy(ledger_path: Path) -> Path:
    """A ledger file with a few commands' worth of audit rows (6 rows), closed."""
    with Ledger(ledger_path, clock=step_clock()) as ledger:
        items = new_batch(ledger, n=4)  # create, import, start: rows 1-3
        ledger.take_for_encoding("B1", 2)  # row 4
        ledger.transition(items[:2], SerialState.COMMISSIONED, "line", "good")  # row 5
        ledger.transition(items[2:], SerialState.UNALLOCATED, "alice", "returned")  # row 6
    return ledger_path


def test_every_command_writes_one_chained_row(busy: Path) -> None:
    with Ledger(busy) as ledger:
        entries = ledger.audit_entries()
        report = ledger.verify_audit()
    assert [e.command for e in entries] == [
        "work_order.create",
        "serials.import",
        "work_order.start",
        "serials.encode",
        "serials.transition",
        "serials.transition",
    ]
    assert [e.id for e in entries] == [1, 2, 3, 4, 5, 6]
    assert entries[0].prev_hash == GENESIS_HASH
    assert all(b.prev_hash == a.row_hash for a, b in itertools.pairwise(entries))
    assert report.ok and report.rows_checked == 6
    assert report.head == (6, entries[-1].row_hash)


def test_a_bulk_transition_row_has_counts_before_and_after_and_the_serials(
    ledger: Ledger,
) -> None:
    items = new_batch(ledger, n=60)
    ledger.transition(items[:3], SerialState.SN_INVALID, "alice", "cancelled")
    ledger.transition(items[3:], SerialState.UNALLOCATED, "alice", "returned at close")
    small, large = ledger.audit_entries()[-2:]
    assert (small.actor, small.reason) == ("alice", "cancelled")
    assert json.loads(small.before)["states"] == {"Allocated": 3}
    assert json.loads(small.after)["states"] == {"SNInvalid": 3}
    assert json.loads(small.after)["serials"] == {"count": 3, "serials": items[:3]}
    digest = json.loads(large.after)["serials"]
    assert digest["count"] == 57
    assert (digest["first"], digest["last"]) == (items[3], items[-1])
    assert len(digest["serials_sha256_sorted"]) == 64


def test_a_refused_command_writes_no_audit_row(ledger: Ledger) -> None:
    items = new_batch(ledger, n=2)
    head = ledger.audit_head()
    with pytest.raises(IllegalTransition):
        ledger.transition(items, SerialState.COMMISSIONED, "alice", "skip the printer")
    assert ledger.audit_head() == head


def test_the_append_only_triggers_stop_a_casual_update(busy: Path) -> None:
    with tamper(busy) as conn, pytest.raises(sqlite3.IntegrityError, match="append-only"):
        conn.execute("UPDATE audit SET actor = 'mallory' WHERE id = 3")


def test_an_update_with_the_sqlite3_shell_is_detected_at_that_row(busy: Path) -> None:
    with tamper(busy) as conn:
        drop_guards(conn)
        conn.execute("UPDATE audit SET reason = 'nothing to see' WHERE id = 4")
    with Ledger(busy) as ledger:
        report = ledger.verify_audit()
    assert not report.ok
    assert report.first_broken_id == 4
    assert report.problem is not None and "edited" in report.problem
    assert "row 4" in str(report)
    assert report.rows_checked == 3


def test_a_deleted_row_breaks_the_chain_at_the_next_row(busy: Path) -> None:
    with tamper(busy) as conn:
        drop_guards(conn)
        conn.execute("DELETE FROM audit WHERE id = 2")
    with Ledger(busy) as ledger:
        report = ledger.verify_audit()
    assert not report.ok
    assert report.first_broken_id == 3
    assert report.problem == "ids jump from 1 to 3: row 2 was deleted"


def test_a_row_rewritten_with_a_fresh_hash_breaks_the_next_link(busy: Path) -> None:
    with tamper(busy) as conn:
        drop_guards(conn)
        row = conn.execute("SELECT * FROM audit WHERE id = 2").fetchone()
        row_id, at, actor, command, _, before, after, prev_hash, _ = row
        forged = compute_row_hash(row_id, at, actor, command, "forged", before, after, prev_hash)
        conn.execute("UPDATE audit SET reason = 'forged', row_hash = ? WHERE id = 2", (forged,))
    with Ledger(busy) as ledger:
        report = ledger.verify_audit()
    assert report.first_broken_id == 3
    assert report.problem is not None and "prev_hash" in report.problem


def test_a_deleted_tail_is_seen_through_sqlite_sequence(busy: Path) -> None:
    with tamper(busy) as conn:
        drop_guards(conn)
        conn.execute("DELETE FROM audit WHERE id >= 5")
    with Ledger(busy) as ledger:
        report = ledger.verify_audit()
    assert report.first_broken_id == 5
    assert report.problem is not None and "rows 5..6 are missing at the end" in report.problem


def test_a_careful_truncation_needs_an_external_anchor(busy: Path) -> None:
    with Ledger(busy) as ledger:
        anchor = ledger.audit_head()
    assert anchor is not None
    with tamper(busy) as conn:
        drop_guards(conn)
        conn.execute("DELETE FROM audit WHERE id = 6")
        conn.execute("UPDATE sqlite_sequence SET seq = 5 WHERE name = 'audit'")
    with Ledger(busy) as ledger:
        assert ledger.verify_audit().ok  # the limit: without an anchor this is invisible
        report = ledger.verify_audit(anchor=anchor)
    assert not report.ok
    assert report.first_broken_id == 6


def test_new_rows_after_reopening_continue_the_chain(busy: Path) -> None:
    with Ledger(busy, clock=step_clock()) as ledger:
        ledger.import_serials("B1", ledger.get_work_order("B1").gtin, serials(2, "N"), "bob")
        report = ledger.verify_audit()
    assert report.ok and report.rows_checked == 7


def test_a_failed_read_of_the_chain_head_never_leaves_a_keyed_row_without_its_mac(
    ledger_path: Path,
) -> None:
    """SQLite fails the first statement of an audit append (here: interrupted, as an I/O error
    or ``interrupt()`` would): the command fails, rather than writing the row unkeyed."""
    key = bytes(range(32))
    with Ledger(ledger_path, clock=step_clock()) as ledger:
        ledger.identity.attach_audit_key(key, create=True)
        ledger.record_event("line", "line.state", "before", None, {"state": "Idle"})
        began = armed = False

        def statement(sql: str) -> None:  # the first statement after BEGIN: the chain's head
            nonlocal began, armed
            began, armed = sql == "BEGIN IMMEDIATE", began

        def interrupt_when_armed() -> int:
            nonlocal armed
            fail, armed = armed, False
            return int(fail)

        conn = ledger._db.conn
        conn.set_trace_callback(statement)
        conn.set_progress_handler(interrupt_when_armed, 1)
        try:
            with pytest.raises(sqlite3.OperationalError, match="interrupted"):
                ledger.record_event("line", "line.state", "during", None, {"state": "Execute"})
        finally:
            conn.set_progress_handler(None, 1)
            conn.set_trace_callback(None)
        ledger.record_event("line", "line.state", "after", None, {"state": "Held"})
        report = ledger.verify_audit(key=key)
        reasons = [e.reason for e in ledger.audit_entries()]
    assert report.ok, report
    assert reasons[-2:] == ["before", "after"]
