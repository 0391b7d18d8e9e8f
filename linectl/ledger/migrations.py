"""Ledger schema as forward migrations: ``MIGRATIONS[n]`` takes a file from version n to n + 1.

The version lives in ``PRAGMA user_version``. Each step runs in its own ``BEGIN IMMEDIATE``
transaction together with the version bump, so a failed step leaves the file at the version it had.
Never edit a released migration: append a new one.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterator, Sequence
from typing import Any

from linectl.ledger import seals
from linectl.ledger.errors import MigrationFailed, SchemaTooNew
from linectl.ledger.nfc_schema import v9_to_v10
from linectl.ledger.product_schema import v6_to_v7
from linectl.ledger.tag_schema import v8_to_v9

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


_SEALED = ("work_orders", "serials", "serial_history", "units", "containers", "outbox")


def _v1_to_v2(conn: sqlite3.Connection) -> None:
    """Row seals (``linectl.ledger.seals``): a ``row_hash`` on every business table, chained on
    serial_history and outbox, and ``outbox.delivery_hash``.

    Rows already in the file are sealed here, as they are now: an edit made before this
    migration ran becomes part of what is sealed and cannot be detected afterwards.
    """
    for table in _SEALED:
        conn.execute(f"ALTER TABLE {table} ADD COLUMN row_hash TEXT")
    conn.execute("ALTER TABLE outbox ADD COLUMN delivery_hash TEXT")
    conn.execute("DROP TRIGGER IF EXISTS serial_history_no_update")  # sealing updates rows
    _seal_existing(conn)
    conn.execute(
        "CREATE TRIGGER serial_history_no_update BEFORE UPDATE ON serial_history "
        "BEGIN SELECT RAISE(ABORT, 'serial history is append-only'); END"
    )


_PAGE = 5000
"""Rows sealed per step of the v2 migration: memory stays flat whatever the file's size."""


def _pages(conn: sqlite3.Connection, table: str, columns: str) -> Iterator[list[Any]]:
    """Rows of ``table`` as (rowid, columns...), in rowid order, a page at a time."""
    after = -(2**63)
    while page := conn.execute(
        f"SELECT rowid, {columns} FROM {table} WHERE rowid > ? ORDER BY rowid LIMIT {_PAGE}",
        (after,),
    ).fetchall():
        yield page
        after = page[-1][0]


def _seal_existing(conn: sqlite3.Connection) -> None:
    """Compute the seals of every row present; chains (history, outbox) in id order."""
    plain: tuple[tuple[str, str, Callable[..., str]], ...] = (
        (
            "work_orders",
            "batch, gtin, lot, expiry, quantity, target_market, materials, status, created_at, "
            "started_at, closed_at",
            seals.work_order_seal,
        ),
        ("serials", "id, gtin, serial, batch, state, updated_at", seals.serial_seal),
        (
            "units",
            "serial_id, seq, verdict, grade, reason, printed_at, verdict_at, container",
            seals.unit_seal,
        ),
        (
            "containers",
            "sscc, level, state, batch, parent, created_at, updated_at",
            seals.container_seal,
        ),
    )
    for table, columns, seal in plain:
        for page in _pages(conn, table, columns):
            conn.executemany(
                f"UPDATE {table} SET row_hash = ? WHERE rowid = ?",
                [(seal(*row[1:]), row[0]) for row in page],
            )
    prev: str | None = seals.GENESIS
    for page in _pages(
        conn, "serial_history", "serial_id, from_state, to_state, at, reason, actor"
    ):
        history: list[tuple[str, int]] = []
        for row_id, serial_id, from_state, to_state, at, reason, actor in page:
            prev = seals.history_seal(
                row_id, serial_id, from_state, to_state, at, reason, actor, prev
            )
            history.append((prev, row_id))
        conn.executemany("UPDATE serial_history SET row_hash = ? WHERE id = ?", history)
    _seal_outbox(conn)


def _seal_outbox(conn: sqlite3.Connection) -> None:
    """Seal the outbox chain, each event with the serials it mentions, and delivery states."""
    links = conn.execute("SELECT outbox_id, serial_id FROM outbox_serials ORDER BY outbox_id")
    link = links.fetchone()
    prev: str | None = seals.GENESIS
    columns = "event_id, batch, kind, body, created_at, delivery, delivered_at"
    for page in _pages(conn, "outbox", columns):
        outbox: list[tuple[str, str, int]] = []
        for row_id, event_id, batch, kind, body, created_at, delivery, delivered_at in page:
            serial_ids: list[int] = []
            while link is not None and link[0] <= row_id:
                if link[0] == row_id:
                    serial_ids.append(int(link[1]))
                link = links.fetchone()
            prev = seals.outbox_seal(
                row_id, event_id, batch, kind, body, created_at, seals.links_text(serial_ids), prev
            )
            outbox.append((prev, seals.delivery_seal(row_id, prev, delivery, delivered_at), row_id))
        conn.executemany("UPDATE outbox SET row_hash = ?, delivery_hash = ? WHERE id = ?", outbox)


def _v2_to_v3(conn: sqlite3.Connection) -> None:
    """Indexes for aggregation queries: events by parent container, containers by batch.

    AggregationEvents name their parent (a case or pallet SSCC) in the body's ``parentID``; an
    index on that expression finds a container's packing and unpacking events without reading
    the outbox, which is what ``trace``, ``contents`` and rework need on a large ledger. Indexes
    hold no business data, so no seal changes.
    """
    conn.execute(
        "CREATE INDEX outbox_by_parent ON outbox (json_extract(body, '$.parentID')) "
        "WHERE json_extract(body, '$.parentID') IS NOT NULL"
    )
    conn.execute("CREATE INDEX containers_by_batch ON containers (batch, level, state)")


def _v3_to_v4(conn: sqlite3.Connection) -> None:
    """The SSCC stock: SSCCs the pool manager provisioned, in the order they came, each sealed.

    Until v4 they lived in a text file beside the ledger (``[aggregation] sscc_stock``); such a
    file is imported when the line starts (``linectl.aggregation.sscc_source``), not here: the
    ledger does not know the configuration. An SSCC is used once a container carries it.
    """
    conn.execute(
        """
        CREATE TABLE sscc_stock (
            id        INTEGER PRIMARY KEY,
            sscc      TEXT NOT NULL UNIQUE CHECK (length(sscc) = 18),
            added_at  TEXT NOT NULL,
            row_hash  TEXT NOT NULL
        ) STRICT
        """
    )


_V5 = (
    """
    CREATE TABLE users (
        id                   INTEGER PRIMARY KEY,
        name                 TEXT NOT NULL UNIQUE,
        full_name            TEXT NOT NULL,
        role                 TEXT NOT NULL,
        source               TEXT NOT NULL CHECK (source IN ('local', 'directory', 'machine')),
        password_hash        TEXT,
        password_changed_at  TEXT,
        password_expired     INTEGER NOT NULL DEFAULT 0,
        enabled              INTEGER NOT NULL DEFAULT 1,
        failed_attempts      INTEGER NOT NULL DEFAULT 0,
        locked_until         TEXT,
        created_at           TEXT NOT NULL
    ) STRICT
    """,
    """
    CREATE TABLE password_history (
        id             INTEGER PRIMARY KEY,
        user_id        INTEGER NOT NULL REFERENCES users (id),
        password_hash  TEXT NOT NULL,
        set_at         TEXT NOT NULL
    ) STRICT
    """,
    "CREATE INDEX password_history_by_user ON password_history (user_id, id)",
    """
    CREATE TABLE sessions (
        id            INTEGER PRIMARY KEY,
        user_id       INTEGER NOT NULL REFERENCES users (id),
        token_sha256  TEXT NOT NULL UNIQUE,
        created_at    TEXT NOT NULL,
        last_used_at  TEXT NOT NULL,
        ended_at      TEXT,
        ended_why     TEXT
    ) STRICT
    """,
    """
    CREATE TABLE api_tokens (
        id            INTEGER PRIMARY KEY,
        user_id       INTEGER NOT NULL REFERENCES users (id),
        label         TEXT NOT NULL,
        token_sha256  TEXT NOT NULL UNIQUE,
        created_at    TEXT NOT NULL,
        expires_at    TEXT,
        last_used_at  TEXT,
        revoked_at    TEXT
    ) STRICT
    """,
    """
    CREATE TABLE signatures (
        id            INTEGER PRIMARY KEY,
        user_id       INTEGER NOT NULL REFERENCES users (id),
        user_name     TEXT NOT NULL,
        printed_name  TEXT NOT NULL,
        at            TEXT NOT NULL,
        meaning       TEXT NOT NULL,
        action        TEXT NOT NULL,
        subject       TEXT NOT NULL,
        record_sha256 TEXT NOT NULL,
        audit_id      INTEGER NOT NULL
    ) STRICT
    """,
    "CREATE INDEX signatures_by_subject ON signatures (action, subject)",
    """
    CREATE TRIGGER signatures_no_update BEFORE UPDATE ON signatures
    BEGIN SELECT RAISE(ABORT, 'signatures are append-only'); END
    """,
    """
    CREATE TRIGGER signatures_no_delete BEFORE DELETE ON signatures
    BEGIN SELECT RAISE(ABORT, 'signatures are append-only'); END
    """,
    """
    CREATE TRIGGER users_no_delete BEFORE DELETE ON users
    BEGIN SELECT RAISE(ABORT, 'users are never deleted, only disabled'); END
    """,
    """
    CREATE TABLE audit_keying (
        id           INTEGER PRIMARY KEY CHECK (id = 1),
        fingerprint  TEXT NOT NULL,
        keyed_at     TEXT NOT NULL
    ) STRICT
    """,
    """
    CREATE TABLE audit_macs (
        audit_id  INTEGER PRIMARY KEY,
        mac       TEXT NOT NULL
    ) STRICT
    """,
)


def _v4_to_v5(conn: sqlite3.Connection) -> None:
    """Identity (``linectl.identity``): users, password history, sessions, API tokens (hashed),
    electronic signatures; and the audit trail's key: its fingerprint and one HMAC per row.

    The key itself never enters the file; rows written before the ledger was keyed get their
    MAC when the key is first attached (``linectl ledger init``).
    """
    for statement in _V5:
        conn.execute(statement)


_V6 = (
    """
    CREATE TABLE material_changes (
        id           INTEGER PRIMARY KEY,
        batch        TEXT NOT NULL REFERENCES work_orders (batch),
        material     TEXT NOT NULL,
        lot          TEXT NOT NULL,
        previous     TEXT,
        at           TEXT NOT NULL,
        actor        TEXT NOT NULL,
        history_mark INTEGER NOT NULL,
        audit_id     INTEGER NOT NULL
    ) STRICT
    """,
    "CREATE INDEX material_changes_by_batch ON material_changes (batch, id)",
    """
    CREATE TABLE shipments (
        id           INTEGER PRIMARY KEY,
        sscc         TEXT NOT NULL REFERENCES containers (sscc),
        kind         TEXT NOT NULL CHECK (kind IN ('shipped', 'returned')),
        source       TEXT NOT NULL,
        destination  TEXT NOT NULL,
        business_order TEXT,
        event_id     TEXT NOT NULL,
        at           TEXT NOT NULL,
        actor        TEXT NOT NULL
    ) STRICT
    """,
    "CREATE INDEX shipments_by_sscc ON shipments (sscc, id)",
)


def _v5_to_v6(conn: sqlite3.Connection) -> None:
    """Batch record and dispatch: packaging-material lot changes during a batch (with the
    serial-history mark that splits the units before and after), and shipments and returns of
    cases and pallets."""
    for statement in _V6:
        conn.execute(statement)


def _v7_to_v8(conn: sqlite3.Connection) -> None:
    """Market code profiles: the profile a work order is marked by and its code fields (the
    national numbers, AI 710-717), sealed (``linectl.ledger.work_order_codes``)."""
    conn.execute(
        """
        CREATE TABLE work_order_codes (
            batch        TEXT PRIMARY KEY REFERENCES work_orders (batch),
            code_profile TEXT NOT NULL,
            code_fields  TEXT NOT NULL CHECK (json_valid(code_fields)),
            row_hash     TEXT NOT NULL
        ) STRICT
        """
    )


MIGRATIONS: tuple[Migration, ...] = (
    _v0_to_v1,
    _v1_to_v2,
    _v2_to_v3,
    _v3_to_v4,
    _v4_to_v5,
    _v5_to_v6,
    v6_to_v7,
    _v7_to_v8,
    v8_to_v9,
    v9_to_v10,
)
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
