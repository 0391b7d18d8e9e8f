"""Ledger schema as forward migrations: ``MIGRATIONS[n]`` takes a file from version n to n + 1.

The version lives in ``PRAGMA user_version``. Each step runs in its own ``BEGIN IMMEDIATE``
transaction together with the version bump, so a failed step leaves the file at the version it had.
Never edit a released migration: append a new one.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Sequence

from linectl.ledger.errors import MigrationFailed, SchemaTooNew

Migration = Callable[[sqlite3.Connection], None]

_V1 = (
    """
    CREATE TABLE work_orders (
        batch          TEXT PRIMARY KEY,
        gtin           TEXT NOT NULL CHECK (length(gtin) = 14),
        lot            TEXT NOT NULL,
        expiry         TEXT NOT NULL CHECK (length(expiry) = 6),
        quantity       INTEGER NOT NULL CHECK (quantity > 0),
        target_market  TEXT NOT NULL,
        materials      TEXT NOT NULL DEFAULT '{}' CHECK (json_valid(materials)),
        status         TEXT NOT NULL CHECK (status IN ('created', 'started', 'closed')),
        created_at     TEXT NOT NULL,
        started_at     TEXT,
        closed_at      TEXT
    ) STRICT
    """,
    """
    CREATE TABLE serials (
        id          INTEGER PRIMARY KEY,
        gtin        TEXT NOT NULL,
        serial      TEXT NOT NULL,
        batch       TEXT NOT NULL REFERENCES work_orders (batch),
        state       INTEGER NOT NULL CHECK (state BETWEEN 0 AND 11),
        updated_at  TEXT NOT NULL,
        UNIQUE (gtin, serial)
    ) STRICT
    """,
    "CREATE INDEX serials_by_serial ON serials (serial)",
    "CREATE INDEX serials_by_batch_state ON serials (batch, state, id)",
    """
    CREATE TABLE serial_history (
        id          INTEGER PRIMARY KEY,
        serial_id   INTEGER NOT NULL REFERENCES serials (id),
        from_state  INTEGER CHECK (from_state BETWEEN 0 AND 11),
        to_state    INTEGER NOT NULL CHECK (to_state BETWEEN 0 AND 11),
        at          TEXT NOT NULL,
        reason      TEXT NOT NULL,
        actor       TEXT NOT NULL
    ) STRICT
    """,
    "CREATE INDEX serial_history_by_serial ON serial_history (serial_id, id)",
    """
    CREATE TABLE containers (
        sscc        TEXT PRIMARY KEY,
        batch       TEXT REFERENCES work_orders (batch),
        level       TEXT NOT NULL CHECK (level IN ('case', 'pallet')),
        state       TEXT NOT NULL CHECK (state IN ('open', 'closed', 'reopened')),
        parent      TEXT REFERENCES containers (sscc),
        created_at  TEXT NOT NULL,
        updated_at  TEXT NOT NULL
    ) STRICT
    """,
    "CREATE INDEX containers_by_parent ON containers (parent)",
    """
    CREATE TABLE units (
        serial_id   INTEGER PRIMARY KEY REFERENCES serials (id),
        seq         INTEGER NOT NULL,
        verdict     TEXT NOT NULL CHECK (verdict IN ('good', 'reject')),
        grade       TEXT,
        reason      TEXT,
        printed_at  TEXT,
        verdict_at  TEXT NOT NULL,
        container   TEXT REFERENCES containers (sscc),
        CHECK (verdict = 'good' OR reason IS NOT NULL)
    ) STRICT
    """,
    "CREATE INDEX units_by_container ON units (container)",
    """
    CREATE TABLE outbox (
        id            INTEGER PRIMARY KEY AUTOINCREMENT,
        event_id      TEXT NOT NULL UNIQUE,
        batch         TEXT REFERENCES work_orders (batch),
        kind          TEXT NOT NULL,
        body          TEXT NOT NULL CHECK (json_valid(body)),
        created_at    TEXT NOT NULL,
        delivery      TEXT NOT NULL DEFAULT 'pending' CHECK (delivery IN ('pending', 'delivered')),
        attempts      INTEGER NOT NULL DEFAULT 0,
        last_error    TEXT,
        delivered_at  TEXT
    ) STRICT
    """,
    "CREATE INDEX outbox_pending ON outbox (delivery, id)",
    """
    CREATE TABLE outbox_serials (
        outbox_id  INTEGER NOT NULL REFERENCES outbox (id),
        serial_id  INTEGER NOT NULL REFERENCES serials (id),
        PRIMARY KEY (serial_id, outbox_id)
    ) STRICT, WITHOUT ROWID
    """,
    """
    CREATE TABLE audit (
        id         INTEGER PRIMARY KEY AUTOINCREMENT,
        at         TEXT NOT NULL,
        actor      TEXT NOT NULL,
        command    TEXT NOT NULL,
        reason     TEXT NOT NULL,
        before     TEXT NOT NULL,
        after      TEXT NOT NULL,
        prev_hash  TEXT NOT NULL,
        row_hash   TEXT NOT NULL
    ) STRICT
    """,
    # Append-only guards: they stop accidents and casual edits, not someone who drops them;
    # the hash chain is what detects that.
    """
    CREATE TRIGGER audit_no_update BEFORE UPDATE ON audit
    BEGIN SELECT RAISE(ABORT, 'audit rows are append-only'); END
    """,
    """
    CREATE TRIGGER audit_no_delete BEFORE DELETE ON audit
    BEGIN SELECT RAISE(ABORT, 'audit rows are append-only'); END
    """,
    """
    CREATE TRIGGER serial_history_no_update BEFORE UPDATE ON serial_history
    BEGIN SELECT RAISE(ABORT, 'serial history is append-only'); END
    """,
    """
    CREATE TRIGGER serial_history_no_delete BEFORE DELETE ON serial_history
    BEGIN SELECT RAISE(ABORT, 'serial history is append-only'); END
    """,
)


def _v0_to_v1(conn: sqlite3.Connection) -> None:
    """First schema: work orders, serials and history, units, containers, outbox, audit."""
    for statement in _V1:
        conn.execute(statement)


MIGRATIONS: tuple[Migration, ...] = (_v0_to_v1,)
"""Forward migrations in order; the schema version this code writes is ``len(MIGRATIONS)``."""

SCHEMA_VERSION = len(MIGRATIONS)


def user_version(conn: sqlite3.Connection) -> int:
    """The schema version recorded in the file."""
    row = conn.execute("PRAGMA user_version").fetchone()
    return int(row[0])


def migrate(
    conn: sqlite3.Connection, path: str, migrations: Sequence[Migration] = MIGRATIONS
) -> tuple[int, int]:
    """Bring the file up to ``len(migrations)``; return (version found, version now).

    ``conn`` must be in autocommit mode (``isolation_level=None``). Refuses a newer file.
    """
    known = len(migrations)
    found = user_version(conn)
    if found > known:
        raise SchemaTooNew(path, found, known)
    while True:
        conn.execute("BEGIN IMMEDIATE")
        try:
            # Read again under the write lock: another process may have migrated meanwhile.
            version = user_version(conn)
            if version > known:
                raise SchemaTooNew(path, version, known)
            if version == known:
                conn.execute("COMMIT")
                return found, version
            try:
                migrations[version](conn)
            except sqlite3.Error as exc:
                raise MigrationFailed(
                    f"ledger {path}: migration {version} -> {version + 1} failed: {exc}"
                ) from exc
            conn.execute(f"PRAGMA user_version = {version + 1:d}")
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
