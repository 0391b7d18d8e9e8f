"""The store's scan side: one scan verified and logged, alerts, webhook deliveries, statistics."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from linectl.resolver.feed import OUT_OF_CHAIN
from linectl.resolver.model import (
    Alert,
    AlertDraft,
    Delivery,
    LotRecord,
    Product,
    Scan,
    SerialRecord,
)
from linectl.resolver.store.database import Database, Row, Tx
from linectl.resolver.store.feed_queries import read_serial
from linectl.resolver.store.scan_context import (
    FORGET_COUNTRIES,
    POSTGRES_COUNT_AND_READ,
    SQLITE_COUNT,
    ScanContext,
    context_from,
    read_scan_context,
    recent,
)
from linectl.resolver.store.scan_log import ScanLog
from linectl.resolver.store.schema import ensure_partition, month_bounds, scan_partitions
from linectl.resolver.verdict import Verification

_ALERT_COLUMNS = "id, at_ms, kind, gtin, lot, serial, country, detail, state"
_ADD_ALERT = (
    "INSERT INTO alerts (at_ms, kind, gtin, lot, serial, country, detail, dedupe_key) "
    "VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (dedupe_key) WHERE state = 'open' "
    f"DO NOTHING RETURNING {_ALERT_COLUMNS}"
)
#: PostgreSQL: the alert (unless the same one is open) and its deliveries, in one statement.
_POSTGRES_ADD_ALERT = (
    f"WITH a AS ({_ADD_ALERT}), d AS (INSERT INTO deliveries (alert_id, url, next_ms) "
    "SELECT a.id, u.url, ? FROM a, unnest(?::text[]) AS u (url)) "
    f"SELECT {_ALERT_COLUMNS} FROM a"
)
DAY_MS = 86_400_000


class DecommissionError(Exception):
    """A decommission (or its undo) the rules do not allow; the message says which rule."""


@dataclass(frozen=True)
class ScanRequest:
    """What the scan handler knows before looking anything up."""

    at_ms: int
    gtin: str
    serial: str | None
    lot: str | None
    country: str | None
    language: str
    source: str


Decide = Callable[[SerialRecord | None, LotRecord | None], Verification]
RaiseAlerts = Callable[[Product, Verification, list[str]], list[AlertDraft]]


def _alert(row: Row) -> Alert:
    return Alert(
        int(row[0]), int(row[1]), str(row[2]), str(row[3]), row[4], row[5], row[6],
        str(row[7]), str(row[8]),
    )  # fmt: skip


class ScanQueries:
    """Mixed into :class:`linectl.resolver.store.Store`; ``db`` is its database."""

    db: Database
    _months: set[str]
    _scan_log: ScanLog

    async def ensure_month(self, at_ms: int) -> None:
        if self.db.dialect != "postgresql":
            return
        name = month_bounds(at_ms)[0]
        if name in self._months:
            return
        async with self.db.transaction() as tx:  # one worker at a time creates partitions
            await tx.execute("SELECT pg_advisory_xact_lock(?)", (0x7363616E73,))
            await ensure_partition(tx, at_ms)
        self._months.add(name)

    async def scan(
        self,
        request: ScanRequest,
        decide: Decide,
        raise_alerts: RaiseAlerts,
        window_ms: int,
        webhooks: Callable[[AlertDraft], Sequence[str]],
    ) -> tuple[Product, Verification, list[Alert]] | None:
        """Verify one scan, log it and raise its alerts (with their deliveries).

        None (and nothing logged) when the GTIN has no product data here. The rules see the
        serial's scans before this one: its count, first scan and last scan time per country
        are kept on its row and counted under the row's lock.
        """
        await self.ensure_month(request.at_ms)
        if self.db.dialect == "postgresql":
            return await self._scan_postgres(request, decide, raise_alerts, window_ms, webhooks)
        r = request

        async def body(tx: Tx) -> tuple[Product, Verification, list[Alert]] | None:
            context = await read_scan_context(tx, r.gtin, r.serial, r.lot)
            if context is None:
                return None
            product, result, drafts = _judge(r, context, decide, raise_alerts, window_ms)
            await tx.execute(
                "INSERT INTO scans (at_ms, gtin, lot, serial, country, language, verdict, source) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                _scan_row(r, result),
            )
            if context[1] is not None:
                await tx.execute(SQLITE_COUNT, _count_args(r, window_ms))
            alerts = [
                a
                for d in drafts
                if (a := await _add_alert(tx, d, r.at_ms, webhooks(d))) is not None
            ]
            return product, result, alerts

        return await self.db.run(body)

    async def _scan_postgres(
        self,
        r: ScanRequest,
        decide: Decide,
        raise_alerts: RaiseAlerts,
        window_ms: int,
        webhooks: Callable[[AlertDraft], Sequence[str]],
    ) -> tuple[Product, Verification, list[Alert]] | None:
        """One statement counts the scan and reads its context; the scan row goes in the next
        batch of the scan log (awaited); each alert, when there are any, in one statement."""
        row = await self.db.statement(
            POSTGRES_COUNT_AND_READ, (*_count_args(r, window_ms), r.lot, r.gtin)
        )
        if row is None:
            return None
        product, result, drafts = _judge(r, context_from(r.gtin, row), decide, raise_alerts,
                                         window_ms)  # fmt: skip
        alerts: list[Alert] = []
        for draft in drafts:  # each alert with its deliveries in one statement
            args = (r.at_ms, draft.kind, draft.gtin, draft.lot, draft.serial, draft.country,
                    draft.detail, draft.key, r.at_ms, list(webhooks(draft)))  # fmt: skip
            if (added := await self.db.statement(_POSTGRES_ADD_ALERT, args)) is not None:
                alerts.append(_alert(added))
        await self._scan_log.log(_scan_row(r, result))
        return product, result, alerts

    async def scans_of(self, gtin: str, serial: str) -> list[Scan]:
        await self._scan_log.drain()
        async with self.db.transaction(write=False) as tx:
            rows = await tx.fetchall(
                "SELECT at_ms, gtin, lot, serial, country, language, verdict, source FROM scans "
                "WHERE gtin = ? AND serial = ? ORDER BY at_ms",
                (gtin, serial),
            )
        return [Scan(*row) for row in rows]

    # -- alerts and deliveries -----------------------------------------------------------------

    async def alerts(self, state: str | None = "open", limit: int = 200) -> list[Alert]:
        where, args = ("WHERE state = ?", [state]) if state else ("", [])
        async with self.db.transaction(write=False) as tx:
            rows = await tx.fetchall(
                f"SELECT {_ALERT_COLUMNS} FROM alerts {where} ORDER BY at_ms DESC, id DESC LIMIT ?",
                (*args, limit),
            )
        return [_alert(r) for r in rows]

    async def close_alert(self, alert_id: int, now_ms: int) -> bool:
        async with self.db.transaction() as tx:
            n = await tx.execute(
                "UPDATE alerts SET state = 'closed', closed_ms = ? WHERE id = ? AND state = 'open'",
                (now_ms, alert_id),
            )
        return n > 0

    async def claim_deliveries(self, now_ms: int, lease_ms: int, limit: int = 20) -> list[Delivery]:
        """Due deliveries, leased to this worker for ``lease_ms`` (no other worker takes them)."""
        lock = " FOR UPDATE SKIP LOCKED" if self.db.dialect == "postgresql" else ""
        async with self.db.transaction() as tx:
            rows = await tx.fetchall(
                "UPDATE deliveries SET next_ms = ? WHERE id IN (SELECT id FROM deliveries "
                f"WHERE state = 'pending' AND next_ms <= ? ORDER BY next_ms LIMIT ?{lock}) "
                "RETURNING id, alert_id, url, attempts",
                (now_ms + lease_ms, now_ms, limit),
            )
            out = []
            for delivery_id, alert_id, url, attempts in rows:
                row = await tx.fetchone(
                    f"SELECT {_ALERT_COLUMNS} FROM alerts WHERE id = ?", (alert_id,)
                )
                assert row is not None  # a foreign key
                out.append(Delivery(int(delivery_id), _alert(row), str(url), int(attempts)))
        return out

    async def delivery_done(self, delivery_id: int, now_ms: int) -> None:
        async with self.db.transaction() as tx:
            await tx.execute(
                "UPDATE deliveries SET state = 'delivered', attempts = attempts + 1, done_ms = ?, "
                "last_error = NULL WHERE id = ?",
                (now_ms, delivery_id),
            )

    async def delivery_failed(
        self, delivery_id: int, error: str, next_ms: int | None, now_ms: int
    ) -> None:
        """Count a failed attempt: retry at ``next_ms``, or give up (None)."""
        state = "pending" if next_ms is not None else "failed"
        async with self.db.transaction() as tx:
            await tx.execute(
                "UPDATE deliveries SET attempts = attempts + 1, last_error = ?, state = ?, "
                "next_ms = ?, done_ms = ? WHERE id = ?",
                (error[:500], state, next_ms if next_ms is not None else now_ms,
                 None if next_ms is not None else now_ms, delivery_id),
            )  # fmt: skip

    async def deliveries(self) -> list[tuple[int, int, str, int, str, str | None]]:
        """(id, alert id, url, attempts, state, last error) of every delivery, oldest first."""
        async with self.db.transaction(write=False) as tx:
            rows = await tx.fetchall(
                "SELECT id, alert_id, url, attempts, state, last_error FROM deliveries ORDER BY id"
            )
        return [(int(a), int(b), str(c), int(d), str(e), f) for a, b, c, d, e, f in rows]

    # -- partners' decommissioning -------------------------------------------------------------

    async def decommission(
        self, gtin: str, serial: str, partner: str, reason: str, now_ms: int
    ) -> SerialRecord:
        async with self.db.transaction() as tx:
            record = await read_serial(tx, gtin, serial)
            if record is None:
                raise DecommissionError(f"serial {serial} of GTIN {gtin} was never commissioned")
            if record.status in OUT_OF_CHAIN:
                raise DecommissionError(
                    f"serial {serial} is already {record.status} ({record.status_detail})"
                )
            await tx.execute(
                "INSERT INTO decommissions (gtin, serial, partner, reason, at_ms, "
                "previous_status, previous_detail) VALUES (?, ?, ?, ?, ?, ?, ?)",
                (gtin, serial, partner, reason, now_ms, record.status, record.status_detail),
            )
            status = "destroyed" if reason == "destroyed" else "decommissioned"
            await tx.execute(
                "UPDATE serials SET status = ?, status_detail = ?, status_ms = ?, "
                "decommissioned_by = ? WHERE gtin = ? AND serial = ?",
                (status, reason, now_ms, partner, gtin, serial),
            )
            after = await read_serial(tx, gtin, serial)
        assert after is not None
        return after

    async def undo_decommission(
        self, gtin: str, serial: str, partner: str, now_ms: int, window_ms: int
    ) -> SerialRecord:
        """Undo the last decommission: same partner, within the window, never ``destroyed``."""
        async with self.db.transaction() as tx:
            row = await tx.fetchone(
                "SELECT id, partner, reason, at_ms, previous_status, previous_detail, undone_ms "
                "FROM decommissions WHERE gtin = ? AND serial = ? ORDER BY id DESC LIMIT 1",
                (gtin, serial),
            )
            if row is None or row[6] is not None:
                raise DecommissionError(f"serial {serial} has no decommission to undo")
            ident, by, reason, at_ms, previous, previous_detail, _ = row
            if reason == "destroyed":
                raise DecommissionError(f"serial {serial} was destroyed: that cannot be undone")
            if by != partner:
                raise DecommissionError(
                    f"serial {serial} was decommissioned by another partner; only it may undo"
                )
            if now_ms - int(at_ms) > window_ms:
                raise DecommissionError(
                    f"serial {serial} was decommissioned more than {window_ms / 3_600_000:g} h "
                    "ago: too late to undo"
                )
            await tx.execute("UPDATE decommissions SET undone_ms = ? WHERE id = ?", (now_ms, ident))
            await tx.execute(
                "UPDATE serials SET status = ?, status_detail = ?, status_ms = ?, "
                "decommissioned_by = NULL WHERE gtin = ? AND serial = ?",
                (previous, previous_detail, now_ms, gtin, serial),
            )
            after = await read_serial(tx, gtin, serial)
        assert after is not None
        return after

    # -- statistics and retention --------------------------------------------------------------

    async def scan_stats(self, since_ms: int) -> dict[str, list[tuple[Any, int]]]:
        """Scans since ``since_ms`` counted by country, language, product and day."""
        out: dict[str, list[tuple[Any, int]]] = {}
        await self._scan_log.drain()
        async with self.db.transaction(write=False) as tx:
            for name, column in (
                ("country", "COALESCE(country, '--')"),
                ("language", "language"),
                ("product", "gtin"),
                ("day", f"at_ms / {DAY_MS}"),
                ("verdict", "verdict"),
            ):
                rows = await tx.fetchall(
                    f"SELECT {column} AS k, count(*) FROM scans WHERE at_ms >= ? "
                    "GROUP BY k ORDER BY k",
                    (since_ms,),
                )
                out[name] = [(k, int(n)) for k, n in rows]
        return out

    async def purge_scans(self, before_ms: int) -> int:
        """Delete scans older than ``before_ms``; whole months go as partitions on PostgreSQL."""
        dropped = 0
        await self._scan_log.drain()
        async with self.db.transaction() as tx:
            if self.db.dialect == "postgresql":
                for name in await scan_partitions(tx):
                    year, month = int(name[6:10]), int(name[11:13])
                    end = month_bounds(_month_start_ms(year, month))[2]
                    if end <= before_ms:
                        row = await tx.fetchone(f"SELECT count(*) FROM {name}")
                        dropped += int(row[0]) if row else 0
                        await tx.execute(f"DROP TABLE {name}")
                        self._months.discard(name)
            dropped += await tx.execute("DELETE FROM scans WHERE at_ms < ?", (before_ms,))
            await tx.execute(FORGET_COUNTRIES[self.db.dialect], (before_ms,))
        return dropped


def _judge(
    r: ScanRequest,
    context: ScanContext,
    decide: Decide,
    raise_alerts: RaiseAlerts,
    window_ms: int,
) -> tuple[Product, Verification, list[AlertDraft]]:
    """The verdict and the alerts of a scan, from what the store read before counting it."""
    product, record, lot, countries = context
    result = decide(record, lot)
    seen = recent(countries, r.at_ms - window_ms) if record is not None else []
    return product, result, raise_alerts(product, result, seen)


def _count_args(r: ScanRequest, window_ms: int) -> Row:
    """The arguments of SQLITE_COUNT (and the first of POSTGRES_COUNT_AND_READ)."""
    since = r.at_ms - window_ms
    return (r.country, r.at_ms, r.country, since, r.country, r.at_ms, r.gtin, r.serial)


def _scan_row(r: ScanRequest, result: Verification) -> Row:
    return (r.at_ms, r.gtin, result.lot or r.lot, r.serial, r.country, r.language,
            result.verdict.value, r.source)  # fmt: skip


def _month_start_ms(year: int, month: int) -> int:
    from datetime import UTC, datetime

    return int(datetime(year, month, 1, tzinfo=UTC).timestamp() * 1000)


async def _add_alert(tx: Tx, draft: AlertDraft, now_ms: int, urls: Sequence[str]) -> Alert | None:
    row = await tx.fetchone(
        _ADD_ALERT,
        (now_ms, draft.kind, draft.gtin, draft.lot, draft.serial, draft.country, draft.detail,
         draft.key),
    )  # fmt: skip
    if row is None:
        return None  # the same alert is open already
    alert = _alert(row)
    if urls:
        await tx.executemany(
            "INSERT INTO deliveries (alert_id, url, next_ms) VALUES (?, ?, ?)",
            [(alert.id, url, now_ms) for url in urls],
        )
    return alert
