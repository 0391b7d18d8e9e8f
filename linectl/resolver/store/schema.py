"""The resolver's schema as forward migrations, one list per dialect, and monthly scan partitions.

``schema_version`` holds the number of migrations applied. Workers starting together migrate
once: PostgreSQL under an advisory lock, SQLite under ``BEGIN IMMEDIATE``. On PostgreSQL the scan
table is partitioned by month of ``at_ms`` (epoch milliseconds, UTC): a partition is created
before the first scan of its month, and old months are dropped whole when scans expire.
"""

from __future__ import annotations

from datetime import UTC, datetime

from linectl.resolver.store.database import Database, Tx

_COMMON = """
CREATE TABLE products (gtin TEXT PRIMARY KEY, data TEXT NOT NULL, updated_ms BIGINT NOT NULL);
CREATE TABLE lots (
    gtin TEXT NOT NULL, lot TEXT NOT NULL, expiry TEXT,
    recalled INTEGER NOT NULL DEFAULT 0, recall_reason TEXT, recalled_ms BIGINT,
    PRIMARY KEY (gtin, lot));
CREATE TABLE serials (
    gtin TEXT NOT NULL, serial TEXT NOT NULL, lot TEXT, expiry TEXT,
    status TEXT NOT NULL, status_detail TEXT, status_ms BIGINT NOT NULL, parent TEXT,
    commissioned_ms BIGINT NOT NULL, scan_count INTEGER NOT NULL DEFAULT 0,
    first_scan_ms BIGINT, first_scan_country TEXT, decommissioned_by TEXT, shipped_to TEXT,
    PRIMARY KEY (gtin, serial));
CREATE INDEX serials_parent ON serials (parent) WHERE parent IS NOT NULL;
CREATE TABLE containers (
    sscc TEXT PRIMARY KEY, parent TEXT, status TEXT, status_detail TEXT, shipped_to TEXT,
    updated_ms BIGINT NOT NULL);
CREATE INDEX containers_parent ON containers (parent) WHERE parent IS NOT NULL;
CREATE TABLE capture_jobs (
    id TEXT PRIMARY KEY, created_ms BIGINT NOT NULL, finished_ms BIGINT,
    running INTEGER NOT NULL, success INTEGER NOT NULL, behaviour TEXT NOT NULL,
    events INTEGER NOT NULL, errors TEXT NOT NULL DEFAULT '[]');
CREATE TABLE captured_events (
    event_id TEXT PRIMARY KEY, job_id TEXT NOT NULL, type TEXT NOT NULL, event_time_ms BIGINT);
"""

_SQLITE_V1 = (
    _COMMON
    + """
CREATE TABLE scans (
    id INTEGER PRIMARY KEY, at_ms BIGINT NOT NULL, gtin TEXT NOT NULL, lot TEXT, serial TEXT,
    country TEXT, language TEXT NOT NULL, verdict TEXT NOT NULL, source TEXT NOT NULL);
CREATE INDEX scans_serial ON scans (gtin, serial, at_ms);
CREATE INDEX scans_time ON scans (at_ms);
CREATE TABLE alerts (
    id INTEGER PRIMARY KEY, at_ms BIGINT NOT NULL, kind TEXT NOT NULL, gtin TEXT NOT NULL,
    lot TEXT, serial TEXT, country TEXT, detail TEXT NOT NULL,
    state TEXT NOT NULL DEFAULT 'open', dedupe_key TEXT NOT NULL, closed_ms BIGINT);
CREATE TABLE deliveries (
    id INTEGER PRIMARY KEY, alert_id INTEGER NOT NULL REFERENCES alerts (id), url TEXT NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0, next_ms BIGINT NOT NULL,
    state TEXT NOT NULL DEFAULT 'pending', last_error TEXT, done_ms BIGINT);
CREATE TABLE decommissions (
    id INTEGER PRIMARY KEY, gtin TEXT NOT NULL, serial TEXT NOT NULL, partner TEXT NOT NULL,
    reason TEXT NOT NULL, at_ms BIGINT NOT NULL, previous_status TEXT NOT NULL,
    previous_detail TEXT, undone_ms BIGINT);
"""
)

_POSTGRES_V1 = (
    _COMMON
    + """
CREATE TABLE scans (
    id BIGINT GENERATED ALWAYS AS IDENTITY, at_ms BIGINT NOT NULL, gtin TEXT NOT NULL,
    lot TEXT, serial TEXT, country TEXT, language TEXT NOT NULL, verdict TEXT NOT NULL,
    source TEXT NOT NULL, PRIMARY KEY (id, at_ms)) PARTITION BY RANGE (at_ms);
CREATE INDEX scans_serial ON scans (gtin, serial, at_ms);
CREATE INDEX scans_time ON scans (at_ms);
CREATE TABLE alerts (
    id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY, at_ms BIGINT NOT NULL,
    kind TEXT NOT NULL, gtin TEXT NOT NULL, lot TEXT, serial TEXT, country TEXT,
    detail TEXT NOT NULL, state TEXT NOT NULL DEFAULT 'open', dedupe_key TEXT NOT NULL,
    closed_ms BIGINT);
CREATE TABLE deliveries (
    id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    alert_id BIGINT NOT NULL REFERENCES alerts (id), url TEXT NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0, next_ms BIGINT NOT NULL,
    state TEXT NOT NULL DEFAULT 'pending', last_error TEXT, done_ms BIGINT);
CREATE TABLE decommissions (
    id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY, gtin TEXT NOT NULL,
    serial TEXT NOT NULL, partner TEXT NOT NULL, reason TEXT NOT NULL, at_ms BIGINT NOT NULL,
    previous_status TEXT NOT NULL, previous_detail TEXT, undone_ms BIGINT);
"""
)

_BOTH_V1 = """
CREATE UNIQUE INDEX alerts_open ON alerts (dedupe_key) WHERE state = 'open';
CREATE INDEX alerts_state ON alerts (state, at_ms);
CREATE INDEX deliveries_due ON deliveries (next_ms) WHERE state = 'pending';
CREATE INDEX decommissions_serial ON decommissions (gtin, serial, at_ms);
"""

# Version 2: each serial keeps the last scan time per country (a JSON object, {"DE": ms}), so
# the several-countries rule reads it from the serial's row, updated with the scan count under the
# row's lock, instead of reading the scan log; filled from the scans logged before.
#: Each serial's ``scan_countries`` from the scans logged (migration 2, bulk loads).
FILL_SCAN_COUNTRIES = {
    "sqlite": """
UPDATE serials SET scan_countries = c.seen FROM (
    SELECT gtin, serial, json_group_object(country, last_ms) AS seen FROM (
        SELECT gtin, serial, country, max(at_ms) AS last_ms FROM scans
        WHERE serial IS NOT NULL AND country IS NOT NULL GROUP BY gtin, serial, country)
    GROUP BY gtin, serial) AS c
WHERE serials.gtin = c.gtin AND serials.serial = c.serial""",
    "postgresql": """
UPDATE serials SET scan_countries = c.seen FROM (
    SELECT gtin, serial, json_object_agg(country, last_ms)::text AS seen FROM (
        SELECT gtin, serial, country, max(at_ms) AS last_ms FROM scans
        WHERE serial IS NOT NULL AND country IS NOT NULL GROUP BY gtin, serial, country) AS x
    GROUP BY gtin, serial) AS c
WHERE serials.gtin = c.gtin AND serials.serial = c.serial""",
}
_V2 = "ALTER TABLE serials ADD COLUMN scan_countries TEXT;\n"

#: Migrations in order; the n-th brings the schema from version n-1 to n.
MIGRATIONS: dict[str, list[str]] = {
    "sqlite": [_SQLITE_V1 + _BOTH_V1, _V2 + FILL_SCAN_COUNTRIES["sqlite"]],
    "postgresql": [
        _POSTGRES_V1 + _BOTH_V1,
        # every scan updates its serial's row: room on each page keeps those updates HOT (no
        # new index entry) for the rows loaded from now on
        _V2 + FILL_SCAN_COUNTRIES["postgresql"] + ";\nALTER TABLE serials SET (fillfactor = 85)",
    ],
}
SCHEMA_VERSION = 2
_LOCK_ID = 0x6C696E6563746C  # "linectl": the advisory lock workers migrate under


def _statements(script: str) -> list[str]:
    return [s.strip() for s in script.split(";") if s.strip()]


async def migrate(db: Database) -> int:
    """Bring the schema to :data:`SCHEMA_VERSION`; return the version found before."""
    async with db.transaction() as tx:
        if db.dialect == "postgresql":
            await tx.execute("SELECT pg_advisory_xact_lock(?)", (_LOCK_ID,))
        await tx.execute("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)")
        row = await tx.fetchone("SELECT version FROM schema_version")
        found = int(row[0]) if row else 0
        if row is None:
            await tx.execute("INSERT INTO schema_version (version) VALUES (0)")
        if found > SCHEMA_VERSION:
            raise RuntimeError(
                f"the database has schema version {found}, newer than this resolver's "
                f"{SCHEMA_VERSION}: upgrade linectl"
            )
        for version, script in enumerate(MIGRATIONS[db.dialect][found:], start=found + 1):
            for statement in _statements(script):
                await tx.execute(statement)
            await tx.execute("UPDATE schema_version SET version = ?", (version,))
    return found


def month_bounds(at_ms: int) -> tuple[str, int, int]:
    """(partition name, first ms, end ms) of the UTC month holding ``at_ms``."""
    moment = datetime.fromtimestamp(at_ms / 1000, UTC)
    start = datetime(moment.year, moment.month, 1, tzinfo=UTC)
    end = datetime(moment.year + moment.month // 12, moment.month % 12 + 1, 1, tzinfo=UTC)
    name = f"scans_{moment.year:04d}_{moment.month:02d}"
    return name, int(start.timestamp() * 1000), int(end.timestamp() * 1000)


async def ensure_partition(tx: Tx, at_ms: int) -> str:
    """Create the month's scan partition if it is missing (PostgreSQL); return its name."""
    name, start, end = month_bounds(at_ms)
    await tx.execute(
        f"CREATE TABLE IF NOT EXISTS {name} PARTITION OF scans FOR VALUES FROM ({start}) TO ({end})"
    )
    return name


async def scan_partitions(tx: Tx) -> list[str]:
    """The scan table's partitions, oldest first (PostgreSQL)."""
    rows = await tx.fetchall(
        "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
        "JOIN pg_class p ON p.oid = i.inhparent WHERE p.relname = 'scans' ORDER BY c.relname"
    )
    return [str(r[0]) for r in rows]
