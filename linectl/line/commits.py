"""Grouped, durable commits of pack outcomes to the ledger, off the event loop.

Outcomes queue up and are written as one ledger transaction (``lifecycle.record_verdicts``: GOOD
-> Commissioned with its commissioning event, REJECT -> LabelScrapped) every ``max_delay``
seconds or ``max_units`` units, whichever comes first, in a worker thread. Counters and anyone
listening hear of a group only after its transaction committed (``synchronous=FULL``), so
nothing is reported that a power cut could undo. Serials scrapped without a pack (cancelled
jobs, crash recovery) go through the same lock, so the ledger sees changes in the order made.
A write the ledger refuses for a reason outside the data (disk full: ``LedgerUnavailable``) is
kept and retried until it goes through (``linectl.line.ledger_trouble``), never dropped.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence
from typing import TypeVar

from linectl.ledger import Ledger, LedgerError, LedgerUnavailable, SerialState, UnitResult
from linectl.lifecycle import EventFactory, record_verdicts
from linectl.line.ledger_trouble import RETRY_S, LedgerTrouble

log = logging.getLogger("linectl.runtime")

Committed = Callable[[Sequence[UnitResult]], None]
Failed = Callable[[str], None]
T = TypeVar("T")
WRITER = "pack outcomes"


class Committer:
    """Queues unit results and commits them in groups (see the module docstring)."""

    def __init__(
        self,
        ledger: Ledger,
        factory: EventFactory,
        *,
        on_committed: Committed,
        on_failed: Failed,
        trouble: LedgerTrouble | None = None,
        max_delay: float = 0.05,
        max_units: int = 100,
        actor: str = "line",
    ) -> None:
        self.ledger = ledger
        self.factory = factory
        self.max_delay = max_delay
        self.max_units = max_units
        self.actor = actor
        self.pending: list[UnitResult] = []
        self.committed = 0
        self._on_committed = on_committed
        self._on_failed = on_failed
        self._trouble = trouble
        self._lock = asyncio.Lock()
        self._arrived = asyncio.Event()
        self._full = asyncio.Event()

    def add(self, unit: UnitResult) -> None:
        """Queue one outcome for the next group."""
        self.pending.append(unit)
        self._arrived.set()
        if len(self.pending) >= self.max_units:
            self._full.set()

    async def run(self) -> None:
        """Commit groups forever (the daemon's committer task)."""
        while True:
            await self._arrived.wait()
            if len(self.pending) < self.max_units:
                try:
                    async with asyncio.timeout(self.max_delay):
                        await self._full.wait()
                except TimeoutError:
                    pass
            await self.flush()

    async def flush(self) -> None:
        """Commit everything queued now (and wait until it is durable)."""
        async with self._lock:
            group, self.pending = self.pending, []
            self._arrived.clear()
            self._full.clear()
            if not group:
                return
            try:
                await self._until_written(self._write, group)
            except LedgerError as exc:
                log.error(
                    "committing %d pack outcomes failed: %s; retrying one by one", len(group), exc
                )
                group = await self._one_by_one(group)
            self.committed += len(group)
            self._on_committed(group)

    async def _until_written(self, write: Callable[..., T], *args: object) -> T:
        """``write(*args)`` in a worker thread, again every RETRY_S while the ledger is
        unavailable (the caller holds the lock: later writes wait, in order)."""
        while True:
            try:
                result = await asyncio.to_thread(write, *args)
            except LedgerUnavailable as exc:
                if self._trouble is not None:
                    self._trouble.failed(WRITER, exc)
                await asyncio.sleep(RETRY_S)
            else:
                if self._trouble is not None:
                    self._trouble.written(WRITER)
                return result

    def _write(self, group: Sequence[UnitResult]) -> None:
        record_verdicts(self.ledger, self.factory, group, actor=self.actor)

    async def _one_by_one(self, group: Sequence[UnitResult]) -> list[UnitResult]:
        done: list[UnitResult] = []
        for unit in group:
            try:
                await self._until_written(self._write, [unit])
            except LedgerError as exc:
                self._on_failed(f"serial {unit.serial} (seq {unit.seq}): {exc}")
            else:
                done.append(unit)
        return done

    async def scrap(self, serials: Sequence[str], reason: str) -> int:
        """Encoded serials that never became a judged pack -> LabelScrapped with ``reason``;
        one already scrapped (a reject settled first) is left as it is."""
        if not serials:
            return 0
        async with self._lock:
            gtin = self.factory.work_order.gtin

            def write() -> int:
                return self.ledger.transition(
                    list(serials), SerialState.LABEL_SCRAPPED, self.actor, reason, gtin=gtin,
                    skip_done=True,
                )  # fmt: skip

            try:
                return await self._until_written(write)
            except LedgerError as exc:
                self._on_failed(f"scrapping {len(serials)} serials ({reason}): {exc}")
                return 0
