"""An in-memory outbox for tests of the EPCIS sync (the daemon adapts the ledger's instead)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from linectl.upstream.outbox import Backlog, OutboxItem


class MemoryOutbox:
    """Events in queue order; remembers deliveries and failures for the assertions."""

    def __init__(self) -> None:
        self.items: list[OutboxItem] = []
        self.delivered: list[int] = []
        self.failures: list[tuple[tuple[int, ...], str]] = []
        self._pending: dict[int, OutboxItem] = {}

    def add(
        self, event: Mapping[str, Any], batch: str | None = None, at: datetime | None = None
    ) -> int:
        outbox_id = len(self.items) + 1
        item = OutboxItem(outbox_id, str(event["eventID"]), event, batch, at or datetime.now(UTC))
        self.items.append(item)
        self._pending[outbox_id] = item
        return outbox_id

    async def pending(self, limit: int) -> Sequence[OutboxItem]:
        out = []
        for item in self._pending.values():  # dicts keep insertion (= queue) order
            if len(out) >= limit:
                break
            out.append(item)
        return out

    async def mark_delivered(self, ids: Sequence[int]) -> None:
        for outbox_id in ids:
            if self._pending.pop(outbox_id, None) is not None:
                self.delivered.append(outbox_id)

    async def record_failure(self, ids: Sequence[int], error: str) -> None:
        self.failures.append((tuple(ids), error))

    async def backlog(self) -> Backlog:
        first = next(iter(self._pending.values()), None)
        return Backlog(len(self._pending), first.created_at if first else None)
