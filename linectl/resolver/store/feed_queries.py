"""The store's capture side: capture jobs, captured events and what they change, product data."""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from typing import Any

from linectl.resolver.feed import Change, Commission, Pack, StatusChange, UnpackAll
from linectl.resolver.model import ApplyOutcome, CaptureJob, LotRecord, Product, SerialRecord
from linectl.resolver.store.database import Database, Row, Tx
from linectl.resolver.store.schema import FILL_SCAN_COUNTRIES

SERIAL_COLUMNS = (
    "gtin, serial, lot, expiry, status, status_detail, status_ms, parent, commissioned_ms, "
    "scan_count, first_scan_ms, first_scan_country, decommissioned_by, shipped_to"
)


def product_from(gtin: str, data: dict[str, Any]) -> Product:
    return Product(
        gtin=gtin,
        names=dict(data.get("names", {})),
        descriptions=dict(data.get("descriptions", {})),
        image=data.get("image"),
        links={k: dict(v) for k, v in data.get("links", {}).items()},
        target_markets=tuple(data.get("target_markets", ())),
    )


class FeedQueries:
    """Mixed into :class:`linectl.resolver.store.Store`; ``db`` is its database."""

    db: Database

    # -- capture jobs ------------------------------------------------------------------------

    async def open_job(self, job_id: str, events: int, behaviour: str, now_ms: int) -> None:
        async with self.db.transaction() as tx:
            await tx.execute(
                "INSERT INTO capture_jobs (id, created_ms, running, success, behaviour, events) "
                "VALUES (?, ?, 1, 1, ?, ?)",
                (job_id, now_ms, behaviour, events),
            )

    async def finish_job(
        self, job_id: str, success: bool, errors: list[dict[str, Any]], now_ms: int
    ) -> None:
        async with self.db.transaction() as tx:
            await tx.execute(
                "UPDATE capture_jobs SET running = 0, success = ?, finished_ms = ?, errors = ? "
                "WHERE id = ?",
                (int(success), now_ms, json.dumps(errors), job_id),
            )

    async def job(self, job_id: str) -> CaptureJob | None:
        async with self.db.transaction(write=False) as tx:
            row = await tx.fetchone(
                "SELECT id, created_ms, finished_ms, running, success, behaviour, errors "
                "FROM capture_jobs WHERE id = ?",
                (job_id,),
            )
        if row is None:
            return None
        return CaptureJob(
            str(row[0]), int(row[1]), row[2], bool(row[3]), bool(row[4]), str(row[5]),
            json.loads(row[6]),
        )  # fmt: skip

    async def jobs(self, limit: int = 100) -> list[CaptureJob]:
        """The latest capture jobs, newest first."""
        async with self.db.transaction(write=False) as tx:
            rows = await tx.fetchall(
                "SELECT id, created_ms, finished_ms, running, success, behaviour, errors "
                "FROM capture_jobs ORDER BY created_ms DESC, id LIMIT ?",
                (limit,),
            )
        return [
            CaptureJob(str(r[0]), int(r[1]), r[2], bool(r[3]), bool(r[4]), str(r[5]),
                       json.loads(r[6]))
            for r in rows
        ]  # fmt: skip

    async def apply_events(
        self, job_id: str, events: Sequence[tuple[str, str, int, list[Change]]]
    ) -> ApplyOutcome:
        """Store (event id, type, time, changes) in one transaction; a known event id is skipped."""
        outcome = ApplyOutcome()
        async with self.db.transaction() as tx:
            for event_id, kind, at_ms, changes in events:
                new = await tx.fetchone(
                    "INSERT INTO captured_events (event_id, job_id, type, event_time_ms) "
                    "VALUES (?, ?, ?, ?) ON CONFLICT (event_id) DO NOTHING RETURNING event_id",
                    (event_id, job_id, kind, at_ms),
                )
                if new is None:
                    outcome.duplicates += 1
                    continue
                outcome.stored += 1
                for change in changes:
                    await _apply(tx, change)
                    outcome.changes += 1
        return outcome

    # -- products ----------------------------------------------------------------------------

    async def upsert_products(self, products: Iterable[Product], now_ms: int) -> int:
        rows = [(p.gtin, json.dumps(p.to_json()), now_ms) for p in products]
        async with self.db.transaction() as tx:
            await tx.executemany(
                "INSERT INTO products (gtin, data, updated_ms) VALUES (?, ?, ?) "
                "ON CONFLICT (gtin) DO UPDATE SET data = excluded.data, "
                "updated_ms = excluded.updated_ms",
                rows,
            )
        return len(rows)

    async def product(self, gtin: str) -> Product | None:
        async def body(tx: Tx) -> Row | None:
            return await tx.fetchone("SELECT data FROM products WHERE gtin = ?", (gtin,))

        row = await self.db.run(body, write=False)
        return None if row is None else product_from(gtin, json.loads(row[0]))

    async def products(self) -> list[Product]:
        async with self.db.transaction(write=False) as tx:
            rows = await tx.fetchall("SELECT gtin, data FROM products ORDER BY gtin")
        return [product_from(str(g), json.loads(d)) for g, d in rows]

    # -- serials and lots --------------------------------------------------------------------

    async def serial(self, gtin: str, serial: str) -> SerialRecord | None:
        return await self.db.run(lambda tx: read_serial(tx, gtin, serial), write=False)

    async def lot(self, gtin: str, lot: str) -> LotRecord | None:
        return await self.db.run(lambda tx: read_lot(tx, gtin, lot), write=False)

    async def recall(self, gtin: str, lot: str, reason: str, now_ms: int) -> bool:
        """Mark a lot recalled; True if the lot was known from commissioning events."""
        async with self.db.transaction() as tx:
            known = await tx.fetchone("SELECT 1 FROM lots WHERE gtin = ? AND lot = ?", (gtin, lot))
            await tx.execute(
                "INSERT INTO lots (gtin, lot, recalled, recall_reason, recalled_ms) "
                "VALUES (?, ?, 1, ?, ?) ON CONFLICT (gtin, lot) DO UPDATE SET recalled = 1, "
                "recall_reason = excluded.recall_reason, recalled_ms = excluded.recalled_ms",
                (gtin, lot, reason, now_ms),
            )
        return known is not None

    async def bulk_load(self, table: str, columns: Sequence[str], rows: Iterable[Row]) -> None:
        """Load rows fast (COPY on PostgreSQL): for benchmarks and imports of whole batches."""
        if table not in ("serials", "lots", "scans", "products"):
            raise ValueError(f"bulk_load: {table!r} is not a table for bulk loading")
        async with self.db.transaction() as tx:
            await tx.copy_rows(table, columns, rows)

    async def bulk_recount(self) -> None:
        """After bulk-loading scans: each serial's scan count and first scan time from the scan
        log (the first country taken as the smallest one), then fresh planner statistics."""
        async with self.db.transaction() as tx:
            await tx.execute(
                "UPDATE serials SET scan_count = s.n, first_scan_ms = s.first_ms, "
                "first_scan_country = s.country FROM (SELECT gtin, serial, count(*) AS n, "
                "min(at_ms) AS first_ms, min(country) AS country FROM scans "
                "WHERE serial IS NOT NULL GROUP BY gtin, serial) AS s "
                "WHERE serials.gtin = s.gtin AND serials.serial = s.serial"
            )
            await tx.execute(FILL_SCAN_COUNTRIES[self.db.dialect])
        if self.db.dialect == "postgresql":
            async with self.db.transaction() as tx:
                await tx.execute("ANALYZE")


def serial_record(row: Row, shipped_to: str | None, pallet: str | None) -> SerialRecord:
    return SerialRecord(
        gtin=str(row[0]), serial=str(row[1]), lot=row[2], expiry=row[3], status=str(row[4]),
        status_detail=row[5], status_ms=int(row[6]), parent=row[7],
        commissioned_ms=int(row[8]), scan_count=int(row[9]), first_scan_ms=row[10],
        first_scan_country=row[11], decommissioned_by=row[12],
        shipped_to=row[13] or shipped_to, pallet=pallet,
    )  # fmt: skip


async def read_serial(tx: Tx, gtin: str, serial: str) -> SerialRecord | None:
    """A serial with the shipment of the case / pallet holding it."""
    row = await tx.fetchone(
        f"SELECT {SERIAL_COLUMNS} FROM serials WHERE gtin = ? AND serial = ?", (gtin, serial)
    )
    if row is None:
        return None
    shipped_to = pallet = None
    parent = row[7]
    for _ in range(4):  # unit -> case -> pallet (-> a pallet of pallets)
        if parent is None:
            break
        holder = await tx.fetchone(
            "SELECT parent, shipped_to FROM containers WHERE sscc = ?", (parent,)
        )
        if holder is None:
            break
        pallet = parent
        shipped_to = shipped_to or holder[1]
        parent = holder[0]
    return serial_record(row, shipped_to, pallet)


async def read_lot(tx: Tx, gtin: str, lot: str) -> LotRecord | None:
    row = await tx.fetchone(
        "SELECT gtin, lot, expiry, recalled, recall_reason, recalled_ms FROM lots "
        "WHERE gtin = ? AND lot = ?",
        (gtin, lot),
    )
    if row is None:
        return None
    return LotRecord(str(row[0]), str(row[1]), row[2], bool(row[3]), row[4], row[5])


async def _apply(tx: Tx, change: Change) -> None:
    if isinstance(change, Commission):
        await tx.execute(
            "INSERT INTO serials (gtin, serial, lot, expiry, status, status_ms, commissioned_ms) "
            "VALUES (?, ?, ?, ?, 'commissioned', ?, ?) ON CONFLICT (gtin, serial) DO NOTHING",
            (change.gtin, change.serial, change.lot, change.expiry, change.at_ms, change.at_ms),
        )
        if change.lot is not None:
            await tx.execute(
                "INSERT INTO lots (gtin, lot, expiry) VALUES (?, ?, ?) ON CONFLICT (gtin, lot) "
                "DO UPDATE SET expiry = COALESCE(lots.expiry, excluded.expiry)",
                (change.gtin, change.lot, change.expiry),
            )
    elif isinstance(change, Pack):
        child = change.child
        if child.scheme == "sgtin":
            await tx.execute(
                "UPDATE serials SET parent = ? WHERE gtin = ? AND serial = ?",
                (change.parent, child.key, child.qualifier),
            )
        else:
            await tx.execute(
                "INSERT INTO containers (sscc, parent, updated_ms) VALUES (?, ?, ?) "
                "ON CONFLICT (sscc) DO UPDATE SET parent = excluded.parent, "
                "updated_ms = excluded.updated_ms",
                (child.key, change.parent, change.at_ms),
            )
    elif isinstance(change, UnpackAll):
        await tx.execute("UPDATE serials SET parent = NULL WHERE parent = ?", (change.parent,))
        await tx.execute("UPDATE containers SET parent = NULL WHERE parent = ?", (change.parent,))
    elif isinstance(change, StatusChange):
        target = change.target
        shipped = change.detail if change.status == "shipped" else None
        if target.scheme == "sgtin":
            await tx.execute(
                "UPDATE serials SET status = ?, status_detail = ?, status_ms = ?, "
                "shipped_to = COALESCE(?, shipped_to) WHERE gtin = ? AND serial = ?",
                (change.status.value, change.detail, change.at_ms, shipped, target.key,
                 target.qualifier),
            )  # fmt: skip
        else:
            await tx.execute(
                "INSERT INTO containers (sscc, status, status_detail, shipped_to, updated_ms) "
                "VALUES (?, ?, ?, ?, ?) ON CONFLICT (sscc) DO UPDATE SET status = excluded.status, "
                "status_detail = excluded.status_detail, "
                "shipped_to = COALESCE(excluded.shipped_to, containers.shipped_to), "
                "updated_ms = excluded.updated_ms",
                (target.key, change.status.value, change.detail, shipped, change.at_ms),
            )
