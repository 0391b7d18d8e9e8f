"""Tamper evidence: any ledger row edited behind linectl's back makes verify_audit fail.

Every edit here is made the way a person with the sqlite3 shell would: a separate connection
(foreign keys off, as the shell has them), the append-only triggers dropped first.
"""

from __future__ import annotations

import re
import shutil
import sqlite3
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

from linectl.ledger import (
    AuditReport,
    Ledger,
    OutboxEvent,
    SerialState,
    UnitResult,
    Verdict,
)
from standards.gs1.checkdigit import make_sscc
from tests.ledger.conftest import new_batch, step_clock

S = SerialState
CASE = make_sscc(0, "9506000", 11)
CASE2 = make_sscc(0, "9506000", 12)
PALLET = make_sscc(3, "9506000", 11)
SQLITE3 = "/usr/bin/sqlite3"


def event(n: int, serials: list[str] | None = None) -> OutboxEvent:
    return OutboxEvent(f"ni:///sha-256;{n:064x}?ver=CBV2.0", "ObjectEvent", {"n": n}, serials)


@dataclass(frozen=True)
class Scene:
    """A closed ledger file after a day's worth of commands, and the names of things in it."""

    path: Path
    scrapped: str  # LabelScrapped by a reject verdict
    good: str  # Commissioned, unpacked
    packed: str  # Commissioned, in CASE (closed, on PALLET)
    released: str  # Commissioned then Released
    allocated: str  # never printed
    delivered: list[int]  # outbox ids delivered upstream
    pending: list[int]  # outbox ids still queued, oldest first


def run_workload(path: Path) -> Scene:
    """Import, encode one by one and in bulk, verdicts, events, containers, delivery marks."""
    with Ledger(path, clock=step_clock()) as ledger:
        items = new_batch(ledger, "B1", n=30)
        new_batch(ledger, "B2", n=4, start=False)
        encoded = [s for _ in range(6) for s in ledger.take_for_encoding("B1", 1)]
        encoded += ledger.take_for_encoding("B1", 14)
        verdicts = [
            UnitResult(s, seq, Verdict.GOOD, grade="A")
            if seq % 5
            else UnitResult(s, seq, Verdict.REJECT, grade="D", reason="low-grade")
            for seq, s in enumerate(encoded)
        ]
        ledger.record_units(verdicts[:1])
        ledger.record_units(verdicts[1:10], events=[event(1)])
        ledger.record_units(verdicts[10:], events=[event(2)])
        good = [v.serial for v in verdicts if v.verdict is Verdict.GOOD]
        ledger.containers.create(CASE, "case", actor="line", batch="B1", events=[event(3, [])])
        ledger.containers.create(CASE2, "case", actor="line", batch="B1")
        ledger.containers.create(PALLET, "pallet", actor="line", batch="B1")
        ledger.containers.pack(CASE, good[:6], actor="line", events=[event(4)])
        ledger.containers.pack(CASE2, good[6:8], actor="line")
        ledger.containers.unpack(CASE2, good[7:8], actor="bob", reason="damaged")
        ledger.containers.close(CASE, actor="line")
        ledger.containers.set_parent(CASE, PALLET, actor="line")
        ledger.transition(good[9], S.RELEASED, "uplink", "shipped", events=[event(5)])
        ledger.transition(items[27:], S.UNALLOCATED, "alice", "returned")
        ledger.outbox.append([event(6, [items[0]])], actor="uplink")
        ids = [e.id for e in ledger.outbox.peek()]
        assert ledger.outbox.mark_delivered(ids[:3]) == 3
        ledger.outbox.record_failure(ids[3:4], "upstream said 503")
        ledger.close_work_order("B2", actor="alice")
        assert ledger.verify_audit().ok
    return Scene(
        path=path,
        scrapped=verdicts[5].serial,
        good=good[8],
        packed=good[0],
        released=good[9],
        allocated=items[20],
        delivered=ids[:3],
        pending=ids[3:],
    )


@pytest.fixture
def scene(ledger_path: Path) -> Scene:
    return run_workload(ledger_path)


@contextmanager
def shell(path: Path) -> Iterator[sqlite3.Connection]:
    """A plain connection that commits each statement, with every trigger dropped."""
    conn = sqlite3.connect(path, isolation_level=None)
    try:
        triggers = conn.execute("SELECT name FROM sqlite_master WHERE type = 'trigger'")
        for (name,) in triggers.fetchall():
            conn.execute(f'DROP TRIGGER "{name}"')
        yield conn
    finally:
        conn.close()


def serial_id(path: Path, serial: str) -> int:
    conn = sqlite3.connect(path)
    try:
        return int(conn.execute("SELECT id FROM serials WHERE serial = ?", (serial,)).fetchone()[0])
    finally:
        conn.close()


def verify(path: Path) -> AuditReport:
    with Ledger(path) as ledger:
        return ledger.verify_audit()


def flagged(report: AuditReport) -> set[str]:
    """The tables the report names."""
    return {re.split(r"[ :]", line, maxsplit=1)[0] for line in report.problems}


def line_for(report: AuditReport, table: str) -> str:
    lines = [p for p in report.problems if re.match(rf"{table}[ :]", p)]
    assert len(lines) == 1, report.problems
    return lines[0]


def test_an_untouched_ledger_after_a_realistic_workload_verifies(scene: Scene) -> None:
    report = verify(scene.path)
    assert report.ok, report.problems
    assert report.problems == ()
    assert report.tables["serials"] == 34
    assert report.tables["units"] == 20
    assert report.tables["serial_history"] == 34 + 20 + 20 + 1 + 3
    assert report.tables["containers"] == 3
    assert report.tables["outbox"] == 6
    assert "ledger rows intact" in str(report)


def test_marking_events_delivered_and_failed_attempts_keep_it_verifiable(scene: Scene) -> None:
    with Ledger(scene.path, clock=step_clock()) as ledger:
        ledger.outbox.record_failure(scene.pending, "connection refused")
        assert ledger.outbox.mark_delivered(scene.pending) == len(scene.pending)
        assert ledger.outbox.mark_delivered(scene.pending) == 0
        assert ledger.outbox.counts() == {"pending": 0, "delivered": 6}
        report = ledger.verify_audit()
    assert report.ok, report.problems


def test_a_scrapped_label_turned_commissioned_names_the_serial(scene: Scene) -> None:
    row = serial_id(scene.path, scene.scrapped)
    with shell(scene.path) as conn:
        conn.execute("UPDATE serials SET state = 7 WHERE serial = ?", (scene.scrapped,))
    report = verify(scene.path)
    assert not report.ok
    assert flagged(report) == {"serials"}
    assert line_for(report, "serials").startswith(
        f"serials row {row} (serial {scene.scrapped}): state is Commissioned but its last "
        "history entry says LabelScrapped"
    )
    assert f"serials row {row}" in str(report)


@pytest.mark.parametrize(
    ("column", "value", "says"),
    [
        ("batch", "B2", "row hash mismatch"),
        ("gtin", "09506000134376", "is not its work order's"),
        ("serial", "FORGED", "row hash mismatch"),
        ("updated_at", "2020-01-01T00:00:00.000Z", "row hash mismatch"),
    ],
)
def test_an_edited_serial_field_is_named(scene: Scene, column: str, value: str, says: str) -> None:
    row = serial_id(scene.path, scene.allocated)
    with shell(scene.path) as conn:
        conn.execute(f"UPDATE serials SET {column} = ? WHERE id = ?", (value, row))
    report = verify(scene.path)
    assert flagged(report) == {"serials"}
    line = line_for(report, "serials")
    assert line.startswith(f"serials row {row} (serial ")
    assert says in line


def test_an_edited_history_row_is_named(scene: Scene) -> None:
    sid = serial_id(scene.path, scene.good)
    with shell(scene.path) as conn:
        (row,) = conn.execute(
            "SELECT max(id) FROM serial_history WHERE serial_id = ?", (sid,)
        ).fetchone()
        conn.execute("UPDATE serial_history SET reason = 'looked fine' WHERE id = ?", (row,))
    report = verify(scene.path)
    assert flagged(report) == {"serial_history"}
    line = line_for(report, "serial_history")
    assert line.startswith(f"serial_history row {row} (serial {scene.good}): row hash mismatch")


def test_a_rewritten_history_transition_breaks_the_serials_continuity(scene: Scene) -> None:
    sid = serial_id(scene.path, scene.scrapped)
    with shell(scene.path) as conn:
        conn.execute(
            "UPDATE serial_history SET to_state = 7 WHERE serial_id = ? AND from_state = 4", (sid,)
        )
    report = verify(scene.path)
    assert {"serial_history", "serials", "units"} <= flagged(report)
    assert "state is LabelScrapped but its last history entry says Commissioned" in line_for(
        report, "serials"
    )
    assert "verdict is reject but the serial's history says Encoded -> Commissioned" in (
        line_for(report, "units")
    )


def test_a_history_row_deleted_from_the_middle_is_a_gap(scene: Scene) -> None:
    sid = serial_id(scene.path, scene.good)
    with shell(scene.path) as conn:
        (row,) = conn.execute(
            "SELECT id FROM serial_history WHERE serial_id = ? AND from_state = 2", (sid,)
        ).fetchone()
        conn.execute("DELETE FROM serial_history WHERE id = ?", (row,))
    line = line_for(verify(scene.path), "serial_history")
    assert f"ids jump from {row - 1} to {row + 1}: row {row} is missing" in line


def test_the_newest_history_row_deleted_shows_on_its_serial(scene: Scene) -> None:
    with shell(scene.path) as conn:
        (row, sid) = conn.execute(
            "SELECT id, serial_id FROM serial_history ORDER BY id DESC LIMIT 1"
        ).fetchone()
        conn.execute("DELETE FROM serial_history WHERE id = ?", (row,))
    report = verify(scene.path)
    assert line_for(report, "serials").startswith(f"serials row {sid} ")
    assert "its last history entry says" in line_for(report, "serials")


def test_an_edited_unit_verdict_is_named(scene: Scene) -> None:
    sid = serial_id(scene.path, scene.good)
    with shell(scene.path) as conn:
        conn.execute(
            "UPDATE units SET verdict = 'reject', reason = 'smudged' WHERE serial_id = ?", (sid,)
        )
    report = verify(scene.path)
    assert flagged(report) == {"units"}
    line = line_for(report, "units")
    assert line.startswith(f"units row {sid} (serial {scene.good}): verdict is reject")
    assert "row hash mismatch (edited?)" in line


def test_an_edited_unit_grade_is_a_row_hash_mismatch(scene: Scene) -> None:
    sid = serial_id(scene.path, scene.scrapped)
    with shell(scene.path) as conn:
        conn.execute("UPDATE units SET grade = 'A' WHERE serial_id = ?", (sid,))
    report = verify(scene.path)
    assert flagged(report) == {"units"}
    assert line_for(report, "units") == (
        f"units row {sid} (serial {scene.scrapped}): row hash mismatch (edited?)"
    )


def test_a_deleted_unit_is_missing_against_the_audit_trail(scene: Scene) -> None:
    sid = serial_id(scene.path, scene.good)
    with shell(scene.path) as conn:
        conn.execute("DELETE FROM units WHERE serial_id = ?", (sid,))
    line = line_for(verify(scene.path), "units")
    assert "the audit trail records 20 unit verdicts but the table holds 19" in line
    assert f"serial {scene.good}" in line


def test_a_unit_moved_to_another_case_is_named(scene: Scene) -> None:
    sid = serial_id(scene.path, scene.good)
    with shell(scene.path) as conn:
        conn.execute("UPDATE units SET container = ? WHERE serial_id = ?", (CASE, sid))
    report = verify(scene.path)
    assert flagged(report) == {"units"}
    assert line_for(report, "units").startswith(f"units row {sid} (serial {scene.good}): row hash")


@pytest.mark.parametrize(
    ("sql", "says", "tables"),
    [
        (f"UPDATE containers SET state = 'open' WHERE sscc = '{CASE}'", "row hash mismatch", ""),
        (f"UPDATE containers SET parent = NULL WHERE sscc = '{CASE}'", "row hash mismatch", ""),
        (f"UPDATE containers SET parent = '{CASE2}' WHERE sscc = '{CASE}'", "not a pallet", ""),
        (f"DELETE FROM containers WHERE sscc = '{CASE2}'", f"{CASE2} (created by", "units"),
    ],
)
def test_an_edited_container_is_named(scene: Scene, sql: str, says: str, tables: str) -> None:
    with shell(scene.path) as conn:
        conn.execute(sql)
    report = verify(scene.path)
    assert flagged(report) == {"containers", *tables.split()}
    line = line_for(report, "containers")
    assert CASE in line or CASE2 in line
    assert says in line


def test_an_edited_work_order_lot_is_named(scene: Scene) -> None:
    with shell(scene.path) as conn:
        conn.execute("UPDATE work_orders SET lot = 'LOT-OTHER' WHERE batch = 'B1'")
    report = verify(scene.path)
    assert flagged(report) == {"work_orders"}
    assert line_for(report, "work_orders") == (
        "work_orders row for batch B1 (lot LOT-OTHER): row hash mismatch (edited?)"
    )


def test_a_deleted_work_order_is_missing_and_orphans_its_serials(scene: Scene) -> None:
    with shell(scene.path) as conn:
        conn.execute("DELETE FROM work_orders WHERE batch = 'B2'")
    report = verify(scene.path)
    assert "work_orders: batch B2 (created by audit row" in line_for(report, "work_orders")
    assert "batch B2 has no work order" in line_for(report, "serials")


def test_a_deleted_pending_event_in_the_middle_is_a_gap(scene: Scene) -> None:
    gone = scene.pending[0]
    with shell(scene.path) as conn:
        conn.execute("DELETE FROM outbox WHERE id = ?", (gone,))
    report = verify(scene.path)
    assert flagged(report) == {"outbox"}
    line = line_for(report, "outbox")
    assert line.startswith(f"outbox row {gone + 1} ")
    assert f"event {gone} is missing" in line


def test_the_newest_pending_event_deleted_shows_through_sqlite_sequence(scene: Scene) -> None:
    gone = scene.pending[-1]
    with shell(scene.path) as conn:
        conn.execute("DELETE FROM outbox_serials WHERE outbox_id = ?", (gone,))
        conn.execute("DELETE FROM outbox WHERE id = ?", (gone,))
    report = verify(scene.path)
    assert flagged(report) == {"outbox"}
    assert f"event {gone} is missing at the end" in line_for(report, "outbox")


@pytest.mark.parametrize(
    "sql",
    [
        "UPDATE outbox SET body = json_set(body, '$.n', 99) WHERE id = :id",
        "UPDATE outbox SET event_id = 'ni:///sha-256;forged' WHERE id = :id",
        "UPDATE outbox SET kind = 'AggregationEvent' WHERE id = :id",
        "UPDATE outbox SET created_at = '2020-01-01T00:00:00.000Z' WHERE id = :id",
        "DELETE FROM outbox_serials WHERE outbox_id = :id",
    ],
)
def test_an_edited_event_is_named(scene: Scene, sql: str) -> None:
    target = scene.pending[0]
    with shell(scene.path) as conn:
        conn.execute(sql, {"id": target})
    report = verify(scene.path)
    assert flagged(report) == {"outbox"}
    assert line_for(report, "outbox").startswith(f"outbox row {target} (event ")
    assert "row hash mismatch" in line_for(report, "outbox")


def test_swapping_two_events_breaks_the_order(scene: Scene) -> None:
    a, b = scene.delivered[:2]
    with shell(scene.path) as conn:
        conn.execute("UPDATE outbox SET id = -1 WHERE id = ?", (a,))
        conn.execute("UPDATE outbox SET id = ? WHERE id = ?", (a, b))
        conn.execute("UPDATE outbox SET id = ? WHERE id = -1", (b,))
    assert line_for(verify(scene.path), "outbox").startswith(f"outbox row {a} ")


@pytest.mark.parametrize(
    ("sql", "says"),
    [
        (
            "UPDATE outbox SET delivery = 'delivered', delivered_at = '2025-03-01T09:00:00.000Z' "
            "WHERE id = :id",
            "delivery state 'delivered' is not what linectl recorded",
        ),
        (
            "UPDATE outbox SET delivery = 'pending', delivered_at = NULL WHERE id = :delivered",
            "delivery state 'pending' is not what linectl recorded",
        ),
    ],
)
def test_a_delivery_state_changed_behind_linectls_back_is_named(
    scene: Scene, sql: str, says: str
) -> None:
    with shell(scene.path) as conn:
        conn.execute(sql, {"id": scene.pending[0], "delivered": scene.delivered[0]})
    report = verify(scene.path)
    assert flagged(report) == {"outbox"}
    assert says in line_for(report, "outbox")


def test_redelivering_an_event_set_back_to_pending_still_shows_the_edit(scene: Scene) -> None:
    target = scene.delivered[0]
    with shell(scene.path) as conn:
        conn.execute(
            "UPDATE outbox SET delivery = 'pending', delivered_at = NULL WHERE id = ?", (target,)
        )
    with Ledger(scene.path, clock=step_clock()) as ledger:
        assert ledger.outbox.mark_delivered([target]) == 1  # sent again: harmless, but seen
        report = ledger.verify_audit()
    assert line_for(report, "outbox").startswith(f"outbox row {target} (event ")
    assert "delivery state 'delivered' is not what linectl recorded" in report.problems[0]


def test_a_serial_deleted_with_everything_about_it_is_missing_against_the_audit(
    scene: Scene,
) -> None:
    sid = serial_id(scene.path, scene.allocated)
    with shell(scene.path) as conn:
        conn.execute("DELETE FROM serial_history WHERE serial_id = ?", (sid,))
        conn.execute("DELETE FROM serials WHERE id = ?", (sid,))
    report = verify(scene.path)
    line = line_for(report, "serials")
    assert "the audit trail records 34 serials imported but the table holds 33" in line
    assert f"serial {scene.allocated}" in line
    assert "serial_history" in flagged(report)  # the history chain has a gap too


def test_a_serial_added_with_the_shell_is_named(scene: Scene) -> None:
    with shell(scene.path) as conn:
        gtin = conn.execute("SELECT gtin FROM work_orders WHERE batch = 'B1'").fetchone()[0]
        conn.execute(
            "INSERT INTO serials (gtin, serial, batch, state, updated_at) "
            "VALUES (?, 'GHOST', 'B1', 7, '2025-03-01T09:00:00.000Z')",
            (gtin,),
        )
    line = line_for(verify(scene.path), "serials")
    assert "(serial GHOST): it has no history" in line
    assert "no row hash" in line


def test_only_the_first_problem_of_a_table_is_spelled_out(scene: Scene) -> None:
    with shell(scene.path) as conn:
        conn.execute("UPDATE serials SET batch = 'B2' WHERE batch = 'B1' AND state = 2")
        (count,) = conn.execute("SELECT changes()").fetchone()
    line = line_for(verify(scene.path), "serials")
    assert line.endswith(f"(and {count - 1} more problems in serials)")


def test_linectl_never_reseals_a_row_edited_behind_its_back(scene: Scene) -> None:
    row = serial_id(scene.path, scene.allocated)
    with shell(scene.path) as conn:
        conn.execute("UPDATE serials SET serial = 'RELABELLED' WHERE id = ?", (row,))
        conn.execute(f"UPDATE containers SET batch = 'B2' WHERE sscc = '{CASE2}'")
    with Ledger(scene.path, clock=step_clock()) as ledger:
        ledger.transition("RELABELLED", S.UNALLOCATED, "alice", "returned")
        ledger.containers.close(CASE2, actor="line")
        report = ledger.verify_audit()
    assert line_for(report, "serials").startswith(
        f"serials row {row} (serial RELABELLED): row hash"
    )
    assert "row hash mismatch" in line_for(report, "containers")


@pytest.mark.skipif(not Path(SQLITE3).exists(), reason="no sqlite3 shell at /usr/bin/sqlite3")
def test_an_edit_with_the_real_sqlite3_shell_is_detected(scene: Scene) -> None:
    assert shutil.which(SQLITE3)
    row = serial_id(scene.path, scene.scrapped)
    script = (
        "DROP TRIGGER serial_history_no_update;\n"
        f"UPDATE serials SET state = 7 WHERE serial = '{scene.scrapped}';\n"
        f"UPDATE serial_history SET to_state = 7 WHERE serial_id = {row} AND from_state = 4;\n"
        f"UPDATE units SET verdict = 'good', reason = NULL WHERE serial_id = {row};\n"
    )
    done = subprocess.run(
        [SQLITE3, str(scene.path)], input=script, capture_output=True, text=True, timeout=30
    )
    assert done.returncode == 0, done.stderr
    with Ledger(scene.path) as ledger:
        assert ledger.trace(scene.scrapped).state is S.COMMISSIONED  # the edit took
        report = ledger.verify_audit()
    assert not report.ok
    assert {"serials", "serial_history", "units"} <= flagged(report)
    assert line_for(report, "units").startswith(f"units row {row} (serial {scene.scrapped}): ")
