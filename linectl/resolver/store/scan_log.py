"""The scan log's writer on PostgreSQL: scan rows committed in batches, each caller still waits.

A verification used to insert its scan row in its own transaction. Here the rows of all the
verifications in flight go in one ``INSERT ... SELECT FROM unnest(arrays)`` (one statement, one
round trip, one commit: a group commit): :meth:`ScanLog.log`
returns once the row is committed, so an answered verification is a logged one, even if the
worker is killed right after. There is no timer: a flush starts as soon as a row waits and no
flush runs; the rows arriving meanwhile make the next batch, so batches grow with the load.
A failed flush is retried (the rows stay in order); after the last attempt its callers get
:class:`~linectl.resolver.store.database.StoreError`. :meth:`ScanLog.close` flushes what waits.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence

from linectl.resolver.store.database import Database, Row, StoreError

log = logging.getLogger("linectl.resolver.store")

SCAN_COLUMNS = ("at_ms", "gtin", "lot", "serial", "country", "language", "verdict", "source")
_INSERT = (
    f"WITH added AS (INSERT INTO scans ({', '.join(SCAN_COLUMNS)}) "
    "SELECT * FROM unnest(?::bigint[], ?::text[], ?::text[], ?::text[], ?::text[], ?::text[], "
    "?::text[], ?::text[]) RETURNING 1) SELECT count(*) FROM added"
)
ATTEMPTS = 4
MAX_BATCH = 5_000


class ScanLog:
    """Batches scan rows into one insert; one flush at a time per worker."""

    def __init__(self, db: Database, backoff_s: float = 0.2) -> None:
        self._db = db
        self._backoff_s = backoff_s
        self._waiting: list[tuple[Row, asyncio.Future[None]]] = []
        self._flusher: asyncio.Task[None] | None = None
        self._closed = False

    async def log(self, row: Row) -> None:
        """Queue one scan row and return when it is committed."""
        if self._closed:
            raise StoreError("the scan log is closed")
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiting.append((row, done))
        if self._flusher is None or self._flusher.done():
            self._flusher = asyncio.create_task(self._flush_all(), name="resolver-scan-log")
        await done  # a cancelled caller cancels ``done`` only: its row stays in the batch

    async def _flush_all(self) -> None:
        while self._waiting:
            batch, self._waiting = self._waiting[:MAX_BATCH], self._waiting[MAX_BATCH:]
            error = await self._write([row for row, _ in batch])
            for _, done in batch:
                if done.done():
                    continue
                if error is None:
                    done.set_result(None)
                else:
                    done.set_exception(error)

    async def _write(self, rows: Sequence[Row]) -> StoreError | None:
        for attempt in range(1, ATTEMPTS + 1):
            try:
                columns = [list(column) for column in zip(*rows, strict=True)]
                row = await self._db.statement(_INSERT, columns)
                if row is None or int(row[0]) != len(rows):
                    raise StoreError(f"{len(rows)} scans sent, {row and row[0]} written")
                return None
            except Exception as exc:  # the database went away or refused the batch
                log.warning(
                    "writing %d scans failed (attempt %d of %d): %s",
                    len(rows), attempt, ATTEMPTS, exc,
                )  # fmt: skip
                if attempt == ATTEMPTS:
                    return StoreError(f"the scan log could not be written: {exc}")
                await asyncio.sleep(self._backoff_s * 2 ** (attempt - 1))
        return None  # not reached

    async def drain(self) -> None:
        """Wait until every row queued so far is written (or has failed)."""
        while self._flusher is not None and not self._flusher.done():
            await asyncio.shield(self._flusher)

    async def close(self) -> None:
        """No more rows; write those that wait."""
        self._closed = True
        await self.drain()
