"""Tamper evidence across schema versions: files written before row seals are sealed when
migrated (and what cannot be detected then), and the cost of sealing while writing.
"""

import itertools
import sqlite3
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from linectl.ledger import (
    MIGRATIONS,
    SCHEMA_VERSION,
    Ledger,
    SerialState,
    UnitResult,
    Verdict,
    migrations,
)
from linectl.ledger.audit import _quick_row_hash, append_audit, compute_row_hash, summarise
from tests.ledger.conftest import GTIN, new_batch, step_clock
from tests.ledger.test_tamper import CASE, event, flagged, line_for, shell, verify

S = SerialState


def test_writing_a_serial_costs_no_select_per_serial(ledger: Ledger) -> None:
    new_batch(ledger, n=60)

    def selects(call: object) -> int:
        statements: list[str] = []
        ledger._db.conn.set_trace_callback(statements.append)
        try:
            assert callable(call)
            call()
        finally:
            ledger._db.conn.set_trace_callback(None)
        return sum(s.lstrip().upper().startswith("SELECT") for s in statements)

    one = selects(lambda: ledger.take_for_encoding("B1", 1))
    many = selects(lambda: ledger.take_for_encoding("B1", 40))
    assert one == many
    taken = ledger.list_serials("B1", S.ENCODED)
    before = selects(lambda: ledger.record_units([UnitResult(taken[0], 0, Verdict.GOOD)]))
    after = selects(
        lambda: ledger.record_units(
            [UnitResult(s, i, Verdict.GOOD) for i, s in enumerate(taken[1:])]
        )
    )
    assert after == before  # resolve looks the serials up a chunk at a time too


# -- files written by linectl before row seals (schema v1) --------------------------------------

T0 = "2025-02-01T08:00:00.000Z"


def write_v1_ledger(path: Path) -> None:
    """A v1 file with rows in every table, as the v1 code wrote them (no seals)."""
    Ledger(path, migrations=MIGRATIONS[:1]).close()
    conn = sqlite3.connect(path, isolation_level=None)
    try:
        conn.execute("BEGIN")
        conn.execute(
            "INSERT INTO work_orders (batch, gtin, lot, expiry, quantity, target_market, "
            "materials, status, created_at, started_at) VALUES ('OLD', ?, 'L1', '271231', 4, "
            "'DE', '{\"carton\":\"C-1\"}', 'started', ?, ?)",
            (GTIN, T0, T0),
        )
        states = {"V1": (2, 4, 7), "V2": (2, 4, 6), "V3": (2, 4), "V4": (2,)}
        for row_id, (serial, path_of_states) in enumerate(states.items(), 1):
            conn.execute(
                "INSERT INTO serials (id, gtin, serial, batch, state, updated_at) "
                "VALUES (?, ?, ?, 'OLD', ?, ?)",
                (row_id, GTIN, serial, path_of_states[-1], T0),
            )
        for row_id in range(1, len(states) + 1):
            conn.execute(
                "INSERT INTO serial_history (serial_id, from_state, to_state, at, reason, actor) "
                "VALUES (?, NULL, 2, ?, 'received', 'alice')",
                (row_id, T0),
            )
        for row_id, path_of_states in enumerate(states.values(), 1):
            for a, b in itertools.pairwise(path_of_states):
                conn.execute(
                    "INSERT INTO serial_history "
                    "(serial_id, from_state, to_state, at, reason, actor) VALUES (?, ?, ?, ?, "
                    "'line', 'line')",
                    (row_id, a, b, T0),
                )
        conn.execute(
            f"INSERT INTO containers (sscc, batch, level, state, created_at, updated_at) "
            f"VALUES ('{CASE}', 'OLD', 'case', 'open', ?, ?)",
            (T0, T0),
        )
        conn.execute(
            "INSERT INTO units (serial_id, seq, verdict, grade, verdict_at, container) "
            f"VALUES (1, 1, 'good', 'B', ?, '{CASE}')",
            (T0,),
        )
        conn.execute(
            "INSERT INTO units (serial_id, seq, verdict, reason, verdict_at) "
            "VALUES (2, 2, 'reject', 'no-read', ?)",
            (T0,),
        )
        for n, delivery in ((1, "delivered"), (2, "pending")):
            conn.execute(
                "INSERT INTO outbox (event_id, batch, kind, body, created_at, delivery) "
                "VALUES (?, 'OLD', 'ObjectEvent', ?, ?, ?)",
                (event(n).event_id, f'{{"n":{n}}}', T0, delivery),
            )
        conn.executemany(
            "INSERT INTO outbox_serials (outbox_id, serial_id) VALUES (?, ?)",
            [(1, 1), (1, 2), (2, 1)],
        )
        for command, after in (
            ("work_order.create", {"batch": "OLD", "status": "created"}),
            ("serials.import", {"imported": summarise(list(states))}),
            ("units.record", {"serials": summarise(["V1", "V2"])}),
            ("containers.create", {"change": {"sscc": CASE}}),
        ):
            append_audit(
                conn, at=T0, actor="alice", command=command, reason="", before={}, after=after
            )
        conn.execute("COMMIT")
    finally:
        conn.close()


def test_a_v1_file_is_sealed_when_migrated_and_then_verifies(ledger_path: Path) -> None:
    write_v1_ledger(ledger_path)
    with Ledger(ledger_path, clock=step_clock()) as ledger:
        assert (ledger.migrated_from, ledger.schema_version) == (1, SCHEMA_VERSION)
        report = ledger.verify_audit()
        assert report.ok, report.problems
        assert report.tables["serial_history"] == 4 + 5
        assert report.tables["outbox"] == 2
        # new rows continue the chains that the migration sealed
        assert ledger.take_for_encoding("OLD", 1) == ["V4"]
        ledger.record_units([UnitResult("V3", 3, Verdict.GOOD)], events=[event(3)])
        ledger.containers.pack(CASE, ["V3"], actor="line")
        assert ledger.outbox.mark_delivered([2, 3]) == 2
        report = ledger.verify_audit()
    assert report.ok, report.problems


def test_a_v1_row_edited_after_migration_is_detected(ledger_path: Path) -> None:
    write_v1_ledger(ledger_path)
    Ledger(ledger_path).close()
    with shell(ledger_path) as conn:
        conn.execute("UPDATE units SET grade = 'A' WHERE serial_id = 1")
        conn.execute("DELETE FROM outbox WHERE id = 1")
    report = verify(ledger_path)
    assert flagged(report) == {"units", "outbox"}
    assert line_for(report, "units") == "units row 1 (serial V1): row hash mismatch (edited?)"


def test_a_v1_row_edited_before_migrating_cannot_be_detected(ledger_path: Path) -> None:
    write_v1_ledger(ledger_path)
    with shell(ledger_path) as conn:  # the limit: the migration seals the rows as it finds them
        conn.execute("UPDATE units SET grade = 'A' WHERE serial_id = 1")
    assert verify(ledger_path).ok


def test_migrating_page_by_page_seals_the_same_chains(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    small, large = tmp_path / "small.db", tmp_path / "large.db"
    for path in (small, large):
        write_v1_ledger(path)
    Ledger(large).close()
    monkeypatch.setattr(migrations, "_PAGE", 2)  # chains and links cross page boundaries
    Ledger(small).close()

    def seals(path: Path) -> list[tuple[object, ...]]:
        conn = sqlite3.connect(path)
        try:
            return [
                *conn.execute("SELECT id, row_hash FROM serial_history ORDER BY id"),
                *conn.execute("SELECT id, row_hash, delivery_hash FROM outbox ORDER BY id"),
                *conn.execute("SELECT serial_id, row_hash FROM units ORDER BY serial_id"),
            ]
        finally:
            conn.close()

    assert seals(small) == seals(large)
    assert all(row[1] for row in seals(small))
    assert verify(small).ok


@given(st.lists(st.text(), min_size=7, max_size=7), st.integers(1, 2**40))
def test_the_quick_audit_hash_is_the_canonical_one(fields: list[str], row_id: int) -> None:
    at, actor, command, reason, before, after, prev = fields
    row = (row_id, at, actor, command, reason, before, after, prev, "")
    assert _quick_row_hash(row) == compute_row_hash(
        row_id, at, actor, command, reason, before, after, prev
    )
