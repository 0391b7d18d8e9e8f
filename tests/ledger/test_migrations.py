"""Opening a ledger file: schema migrations, user_version and the pragmas that make it durable."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from linectl.ledger import (
    MIGRATIONS,
    SCHEMA_VERSION,
    Ledger,
    LedgerError,
    MigrationFailed,
    SchemaTooNew,
    SerialState,
)
from tests.ledger.conftest import dump, new_batch, step_clock

TABLES = {
    "work_orders",
    "serials",
    "serial_history",
    "units",
    "containers",
    "outbox",
    "outbox_serials",
    "audit",
}


def plain_user_version(path: Path) -> int:
    conn = sqlite3.connect(path)
    try:
        return int(conn.execute("PRAGMA user_version").fetchone()[0])
    finally:
        conn.close()


def test_a_fresh_file_is_migrated_to_the_current_version(ledger_path: Path) -> None:
    with Ledger(ledger_path) as ledger:
        assert ledger.migrated_from == 0
        assert ledger.schema_version == SCHEMA_VERSION == len(MIGRATIONS)
    assert plain_user_version(ledger_path) == SCHEMA_VERSION
    assert set(dump(ledger_path)) >= TABLES


def test_reopening_keeps_the_data_and_runs_no_migration(ledger_path: Path) -> None:
    with Ledger(ledger_path, clock=step_clock()) as ledger:
        items = new_batch(ledger, n=3)
    with Ledger(ledger_path) as again:
        assert again.migrated_from == SCHEMA_VERSION
        assert again.list_serials("B1", SerialState.ALLOCATED) == items
        assert again.verify_audit().ok


def test_pragmas_read_back_wal_full_sync_and_foreign_keys(ledger_path: Path) -> None:
    with Ledger(ledger_path) as ledger:
        settings = ledger.settings()
    assert settings["journal_mode"] == "wal"
    assert settings["synchronous"] == 2  # FULL
    assert settings["foreign_keys"] == 1
    assert settings["user_version"] == SCHEMA_VERSION
    conn = sqlite3.connect(ledger_path)  # WAL is a property of the file: a stranger sees it too
    try:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    finally:
        conn.close()


def test_a_file_from_a_newer_linectl_is_refused_and_left_alone(ledger_path: Path) -> None:
    Ledger(ledger_path).close()
    conn = sqlite3.connect(ledger_path)
    conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 5}")
    conn.close()
    before = dump(ledger_path)
    with pytest.raises(SchemaTooNew) as caught:
        Ledger(ledger_path)
    assert caught.value.found == SCHEMA_VERSION + 5
    assert caught.value.known == SCHEMA_VERSION
    assert f"schema version {SCHEMA_VERSION + 5}" in str(caught.value)
    assert dump(ledger_path) == before


def add_operator_column(conn: sqlite3.Connection) -> None:
    conn.execute("ALTER TABLE work_orders ADD COLUMN line_operator TEXT")


def test_a_later_migration_is_applied_forward_on_open(ledger_path: Path) -> None:
    with Ledger(ledger_path, clock=step_clock()) as ledger:
        new_batch(ledger, n=2)
    with Ledger(ledger_path, migrations=(*MIGRATIONS, add_operator_column)) as newer:
        assert newer.migrated_from == SCHEMA_VERSION
        assert newer.schema_version == SCHEMA_VERSION + 1
        assert newer.get_work_order("B1").batch == "B1"
    assert plain_user_version(ledger_path) == SCHEMA_VERSION + 1
    conn = sqlite3.connect(ledger_path)
    columns = {r[1] for r in conn.execute("PRAGMA table_info(work_orders)")}
    conn.close()
    assert "line_operator" in columns
    with pytest.raises(SchemaTooNew):  # and the older code now refuses the file
        Ledger(ledger_path)


def half_done_then_failing(conn: sqlite3.Connection) -> None:
    conn.execute("CREATE TABLE half_done (x INTEGER)")
    conn.execute("INSERT INTO no_such_table VALUES (1)")


def test_a_failing_migration_leaves_the_file_at_its_old_version(ledger_path: Path) -> None:
    Ledger(ledger_path).close()
    with pytest.raises(MigrationFailed, match=f"migration {SCHEMA_VERSION} -> "):
        Ledger(ledger_path, migrations=(*MIGRATIONS, half_done_then_failing))
    assert plain_user_version(ledger_path) == SCHEMA_VERSION
    assert "half_done" not in dump(ledger_path)


def test_a_file_that_is_not_sqlite_is_a_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "notes.txt"
    path.write_bytes(b"this is not a database, just some text that is long enough" * 20)
    with pytest.raises(LedgerError, match=r"notes\.txt"):
        Ledger(path)


def test_close_is_safe_twice_and_use_after_close_is_an_error(ledger_path: Path) -> None:
    ledger = Ledger(ledger_path)
    ledger.close()
    ledger.close()
    with pytest.raises(LedgerError, match="closed"):
        ledger.list_work_orders()
