"""The line event stream: stages publish what happened, observers read it at their own pace.

Publishing never awaits and never blocks, so a slow or stalled observer can never delay the pack
path. Each subscriber has a bounded queue; when it is full the event is dropped for that
subscriber only and counted, and its next read returns :class:`Missed` (with the count) before
anything else, so it knows to re-read a snapshot. Level events (counters, pool, upstream) are
coalesced: a subscriber holds at most the latest of each kind, so the 100 packs/s path costs
one dict store per observer, not a queued message per pack.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

from drivers.interfaces import Verdict


@dataclass(frozen=True, slots=True)
class StateChanged:
    """The PLC reports a new PackML state (names; None when unknown)."""

    old: str | None
    new: str | None


@dataclass(frozen=True, slots=True)
class AlarmRaised:
    code: str
    message: str
    holds: bool


@dataclass(frozen=True, slots=True)
class AlarmCleared:
    code: str


@dataclass(frozen=True, slots=True)
class DeviceLost:
    role: str
    name: str
    error: str


@dataclass(frozen=True, slots=True)
class DeviceBack:
    role: str
    name: str


@dataclass(frozen=True, slots=True)
class VerdictWritten:
    """A verdict reached the PLC for pack ``seq`` (``reason``: the reject code, if any)."""

    seq: int
    verdict: Verdict
    reason: str | None
    latency_ms: float


@dataclass(frozen=True, slots=True)
class Committed:
    """A group of pack outcomes is durable in the ledger."""

    good: int
    scrapped: int


@dataclass(frozen=True, slots=True)
class Counters:
    """The line's counters now (coalesced: only the latest is kept per subscriber)."""

    values: dict[str, int]


@dataclass(frozen=True, slots=True)
class PoolLevel:
    """Serials left in the active batch's pool (coalesced)."""

    available: int


@dataclass(frozen=True, slots=True)
class UpstreamLevel:
    """Events waiting in the outbox for the upstream (coalesced)."""

    backlog: int | None


@dataclass(frozen=True, slots=True)
class Missed:
    """This subscriber's queue overflowed: ``count`` events were dropped; re-read a snapshot."""

    count: int


LineEvent = (
    StateChanged
    | AlarmRaised
    | AlarmCleared
    | DeviceLost
    | DeviceBack
    | VerdictWritten
    | Committed
    | Counters
    | PoolLevel
    | UpstreamLevel
)
COALESCED: tuple[type, ...] = (Counters, PoolLevel, UpstreamLevel)


@dataclass(eq=False)
class Subscription:
    """One observer's bounded view of the stream; read it with ``await get()`` or ``async for``.

    ``skip``: event classes this observer never wants (never queued, never a wake-up).
    ``level_interval_s``: a level event (:data:`COALESCED`) is handed out at most once per this
    many seconds per kind, the latest one when it is due; 0 hands each out as soon as asked.
    """

    stream: EventStream
    maxsize: int
    missed: int = 0
    skip: frozenset[type] = frozenset()
    level_interval_s: float = 0.0
    _queue: deque[LineEvent] = field(default_factory=deque)
    _latest: dict[type, LineEvent] = field(default_factory=dict)
    _level_due: dict[type, float] = field(default_factory=dict)
    _waiter: asyncio.Future[None] | None = None
    _timer: asyncio.TimerHandle | None = None

    def offer(self, event: LineEvent) -> None:
        """Queue ``event`` or count it as missed; never blocks (the publisher's side)."""
        kind = type(event)
        if kind in self.skip:
            return
        if kind in COALESCED:
            self._latest[kind] = event
            now = time.monotonic()
            due = self._level_due.get(kind, 0.0)
            if self.level_interval_s and now < due:
                if self._waiter is not None and self._timer is None:
                    loop = asyncio.get_running_loop()
                    self._timer = loop.call_later(due - now, self._wake)
                return  # held until due: the waiting get() is woken then
        elif len(self._queue) < self.maxsize:
            self._queue.append(event)
        else:
            self.missed += 1
        self._wake()

    def _wake(self) -> None:
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    def get_nowait(self) -> LineEvent | Missed | None:
        """The next event, :class:`Missed` first if some were dropped; None when none waits."""
        if self.missed:
            missed, self.missed = Missed(self.missed), 0
            return missed
        if self._queue:
            return self._queue.popleft()
        if self._latest:
            if not self.level_interval_s:
                key = next(iter(self._latest))
                return self._latest.pop(key)
            now = time.monotonic()
            for kind in self._latest:
                if now >= self._level_due.get(kind, 0.0):
                    self._level_due[kind] = now + self.level_interval_s
                    return self._latest.pop(kind)
        return None

    def _due_in(self) -> float | None:
        """Seconds until the first held level event is due (None when none is held)."""
        if not self._latest or not self.level_interval_s:
            return None
        now = time.monotonic()
        return max(0.0, min(self._level_due.get(kind, 0.0) for kind in self._latest) - now)

    async def get(self) -> LineEvent | Missed:
        """Wait for the next event (see :meth:`get_nowait`)."""
        while True:
            event = self.get_nowait()
            if event is not None:
                return event
            loop = asyncio.get_running_loop()
            self._waiter = loop.create_future()
            due = self._due_in()
            self._timer = None if due is None else loop.call_later(due, self._wake)
            try:
                await self._waiter
            finally:
                self._waiter = None
                if self._timer is not None:
                    self._timer.cancel()
                    self._timer = None

    def snapshot(self) -> dict[str, Any]:
        """The line's state now (what an observer re-reads after :class:`Missed`)."""
        return self.stream.snapshot()

    def close(self) -> None:
        """Stop receiving events."""
        self.stream.unsubscribe(self)

    async def __aiter__(self) -> AsyncIterator[LineEvent | Missed]:
        while True:
            yield await self.get()


class EventStream:
    """Publish-subscribe for line events with bounded, non-blocking delivery."""

    def __init__(self, snapshot: Callable[[], dict[str, Any]] | None = None) -> None:
        self._subscribers: list[Subscription] = []
        self._snapshot = snapshot
        self.published = 0

    def subscribe(self, maxsize: int = 1000) -> Subscription:
        """A new subscriber that sees events published from now on."""
        if maxsize < 1:
            raise ValueError("a subscription needs room for at least one event")
        sub = Subscription(self, maxsize)
        self._subscribers.append(sub)
        return sub

    def unsubscribe(self, sub: Subscription) -> None:
        if sub in self._subscribers:
            self._subscribers.remove(sub)

    @property
    def subscribers(self) -> int:
        return len(self._subscribers)

    def publish(self, event: LineEvent) -> None:
        """Hand ``event`` to every subscriber; never awaits, never blocks."""
        self.published += 1
        for sub in self._subscribers:
            sub.offer(event)

    def set_snapshot(self, snapshot: Callable[[], dict[str, Any]]) -> None:
        self._snapshot = snapshot

    def snapshot(self) -> dict[str, Any]:
        """The line's state as the snapshot source gives it ({} without one)."""
        return self._snapshot() if self._snapshot is not None else {}
