"""What one scan reads: product, serial (with its case / pallet shipment), lot, recent countries.

SQLite reads it in the scan's write transaction (writers take turns on the file). PostgreSQL
counts the scan and reads the serial as it was before in one statement, one round trip: the
serial's row is locked first (``FOR UPDATE``), so two scans of one serial at the same moment,
in any two workers, are counted one after the other and the second sees the first.
"""

from __future__ import annotations

import json
from functools import lru_cache

from linectl.resolver.model import LotRecord, Product, SerialRecord
from linectl.resolver.store.database import Row, Tx
from linectl.resolver.store.feed_queries import SERIAL_COLUMNS, product_from, serial_record

ScanContext = tuple[Product, SerialRecord | None, LotRecord | None, dict[str, int]]

_COLUMNS = [c.strip() for c in SERIAL_COLUMNS.split(",")] + ["scan_countries"]
_JOINS = (
    "LEFT JOIN containers c1 ON c1.sscc = s.parent "
    "LEFT JOIN containers c2 ON c2.sscc = c1.parent "
    "LEFT JOIN lots l ON l.gtin = p.gtin AND l.lot = COALESCE(s.lot, ?) "
    "WHERE p.gtin = ?"
)
_SELECT = (
    "SELECT p.data, "
    + ", ".join(f"s.{c}" for c in _COLUMNS)
    + ", c1.sscc, c1.parent, c1.shipped_to, c2.shipped_to, "
    "l.gtin, l.lot, l.expiry, l.recalled, l.recall_reason, l.recalled_ms "
)

#: SQLite: the context as it is (the caller counts the scan in the same transaction).
_SQLITE_SQL = _SELECT + "FROM products p LEFT JOIN serials s ON s.gtin = p.gtin AND s.serial = ? "
_SQLITE_SQL += _JOINS

#: PostgreSQL: count the scan and return the context as it was before. Arguments: country,
#: at_ms, country, since_ms, country, at_ms, gtin, serial, lot, gtin. ``scan_countries`` keeps
#: the countries scanned since ``since_ms`` (the start of the rule's window) and this scan's.
POSTGRES_COUNT_AND_READ = (
    "WITH s AS (UPDATE serials AS u SET scan_count = u.scan_count + 1, "
    "first_scan_country = CASE WHEN u.first_scan_ms IS NULL THEN ?::text "
    "ELSE u.first_scan_country END, first_scan_ms = COALESCE(u.first_scan_ms, ?::bigint), "
    "scan_countries = CASE WHEN ?::text IS NULL THEN u.scan_countries ELSE "
    "((SELECT COALESCE(jsonb_object_agg(key, value), '{}') FROM jsonb_each("
    "COALESCE(u.scan_countries, '{}')::jsonb) WHERE value::bigint >= ?::bigint) "
    "|| jsonb_build_object(?::text, ?::bigint))::text END FROM (SELECT "
    + ", ".join(_COLUMNS)
    + " FROM serials WHERE gtin = ? AND serial = ? FOR UPDATE) AS old "
    "WHERE u.gtin = old.gtin AND u.serial = old.serial "
    "AND EXISTS (SELECT 1 FROM products WHERE gtin = old.gtin) RETURNING "
    + ", ".join(f"old.{c}" for c in _COLUMNS)
    + ") "
    + _SELECT
    + "FROM products p LEFT JOIN s ON true "
    + _JOINS
)

#: SQLite: count a scan of a known serial as the statement above does. Arguments: country,
#: at_ms, country, since_ms, country, at_ms, gtin, serial.
SQLITE_COUNT = (
    "UPDATE serials SET scan_count = scan_count + 1, "
    "first_scan_country = CASE WHEN first_scan_ms IS NULL THEN ? ELSE first_scan_country END, "
    "first_scan_ms = COALESCE(first_scan_ms, ?), "
    "scan_countries = CASE WHEN ? IS NULL THEN scan_countries ELSE json_set("
    "(SELECT json_group_object(key, value) FROM json_each(COALESCE(scan_countries, '{}')) "
    "WHERE value >= ?), '$.' || ?, ?) END "
    "WHERE gtin = ? AND serial = ?"
)

#: Forget the countries of serials last scanned before a time (``purge-scans``), per dialect.
FORGET_COUNTRIES = {
    "sqlite": "UPDATE serials SET scan_countries = NULL WHERE scan_countries IS NOT NULL "
    "AND (SELECT max(value) FROM json_each(scan_countries)) < ?",
    "postgresql": "UPDATE serials SET scan_countries = NULL WHERE scan_countries IS NOT NULL "
    "AND (SELECT max(value::bigint) FROM jsonb_each_text(scan_countries::jsonb)) < ?",
}


async def read_scan_context(
    tx: Tx, gtin: str, serial: str | None, lot: str | None
) -> ScanContext | None:
    """The context of a scan (SQLite, in the scan's transaction); None: no product data."""
    row = await tx.fetchone(_SQLITE_SQL, (serial, lot, gtin))
    return None if row is None else context_from(gtin, row)


def context_from(gtin: str, row: Row) -> ScanContext:
    """Product, serial, lot and the serial's last scan time per country from one row."""
    product = _product(gtin, str(row[0]))
    n = len(_COLUMNS)
    columns, seen = row[1:n], row[n]
    record = None
    if columns[0] is not None:
        holder, holder_parent, holder_shipped, top_shipped = row[n + 1 : n + 5]
        # the top container, as read_serial walks it: the case's pallet, else the case
        pallet = holder_parent if holder_parent is not None else holder
        record = serial_record(columns, holder_shipped or top_shipped, pallet)
    lot_row = row[n + 5 : n + 11]
    lot_record = None
    if lot_row[0] is not None:
        lot_record = LotRecord(
            str(lot_row[0]), str(lot_row[1]), lot_row[2], bool(lot_row[3]), lot_row[4], lot_row[5]
        )
    countries = {str(k): int(v) for k, v in json.loads(seen).items()} if seen else {}
    return product, record, lot_record, countries


@lru_cache(maxsize=4096)
def _product(gtin: str, data: str) -> Product:
    """A product from its stored JSON, read once per worker for each version of its data (every
    scan reads the same few products; an import writes new JSON, so a new entry)."""
    return product_from(gtin, json.loads(data))


def recent(countries: dict[str, int], since_ms: int) -> list[str]:
    """The countries a serial was scanned in since ``since_ms``, sorted."""
    return sorted(c for c, at_ms in countries.items() if at_ms >= since_ms)
