"""The outbox as the EPCIS sync sees it: a queue of events in capture order, read from its head.

The daemon adapts the ledger's outbox to :class:`Outbox`; the sync never reorders: it always reads
the oldest pending events and marks them delivered only after the repository confirmed them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol


@dataclass(frozen=True)
class OutboxItem:
    """One queued event: ``id`` grows in queue order; ``event`` carries its ``eventID``."""

    id: int
    event_id: str
    event: Mapping[str, Any]
    batch: str | None
    created_at: datetime


@dataclass(frozen=True)
class Backlog:
    """How far behind the upstream link is: undelivered events and the oldest one's time."""

    count: int
    oldest_created_at: datetime | None

    def oldest_age_s(self, now: datetime) -> float | None:
        """Seconds the oldest undelivered event has waited, or None when nothing waits."""
        if self.oldest_created_at is None:
            return None
        return max(0.0, (now - self.oldest_created_at).total_seconds())


class Outbox(Protocol):
    """What the EPCIS sync needs from the ledger's outbox (all calls may block: they are async)."""

    async def pending(self, limit: int) -> Sequence[OutboxItem]:
        """The oldest ``limit`` undelivered events, oldest first."""

    async def mark_delivered(self, ids: Sequence[int]) -> None:
        """The repository confirmed these events (idempotent: delivered ones stay delivered)."""

    async def record_failure(self, ids: Sequence[int], error: str) -> None:
        """A delivery attempt of these events failed; keep ``error`` for the operator."""

    async def backlog(self) -> Backlog:
        """Undelivered count and the oldest undelivered event's creation time."""
