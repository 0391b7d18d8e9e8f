"""The ledger as the upstream links see it: its outbox for the EPCIS sync, its serial pool.

The ledger is synchronous and thread-safe; these adapters run each call on a worker thread so the
event loop never blocks on SQLite.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Sequence
from datetime import datetime

from linectl.ledger import Ledger, OutboxEntry
from linectl.upstream.outbox import Backlog, OutboxItem


def _item(entry: OutboxEntry) -> OutboxItem:
    return OutboxItem(
        id=entry.id,
        event_id=entry.event_id,
        event=json.loads(entry.body),
        batch=entry.batch,
        created_at=datetime.fromisoformat(entry.created_at.replace("Z", "+00:00")),
    )


class LedgerOutbox:
    """The ledger's outbox, oldest first; delivered only when the repository confirmed it."""

    def __init__(self, ledger: Ledger, *, actor: str = "uplink") -> None:
        self.ledger = ledger
        self.actor = actor

    async def pending(self, limit: int) -> Sequence[OutboxItem]:
        entries = await asyncio.to_thread(self.ledger.outbox.peek, limit)
        return [_item(e) for e in entries]

    async def mark_delivered(self, ids: Sequence[int]) -> None:
        await asyncio.to_thread(self.ledger.outbox.mark_delivered, list(ids), actor=self.actor)

    async def record_failure(self, ids: Sequence[int], error: str) -> None:
        await asyncio.to_thread(self.ledger.outbox.record_failure, list(ids), error)

    async def backlog(self) -> Backlog:
        def read() -> Backlog:
            count = self.ledger.outbox.counts().get("pending", 0)
            head = self.ledger.outbox.peek(1)
            oldest = _item(head[0]).created_at if head else None
            return Backlog(count=count, oldest_created_at=oldest)

        return await asyncio.to_thread(read)


class LedgerSerialSink:
    """Provisioned serials land in the batch's pool as Allocated, durably, page by page."""

    def __init__(self, ledger: Ledger, *, actor: str = "provisioning") -> None:
        self.ledger = ledger
        self.actor = actor

    async def add_serials(self, batch: str, gtin: str, serials: Sequence[str]) -> None:
        await asyncio.to_thread(
            self.ledger.import_serials,
            batch,
            gtin,
            list(serials),
            self.actor,
            reason="allocated by the site pool manager",
        )
