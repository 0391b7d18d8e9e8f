"""The print side of the line: serials written ahead, jobs loaded ahead, queue resynchronised.

The feeder keeps the printer's queue ``depth`` jobs ahead of the packs. Serials come from a small
reserve that is refilled ``chunk`` at a time with ``Ledger.take_for_encoding`` in a worker
thread, so every serial is durably Encoded before its job leaves for the printer (write-ahead)
and the hot path pays one fsync per chunk, not per pack. When the pool cannot supply, it says so
(``on_starved``) and the line is suspended before the queue can run dry.

With the line standing still :meth:`Feeder.resync` makes the prediction of which job goes on
which pack true again: it cancels the printer's queue (or, for a printer that cannot cancel,
re-bases the jobs still queued onto the next packs) and restarts the count from the PLC's
``Stations.Printer.LastSeq``. Cancelled jobs are returned so their serials can be scrapped.

For a printer that encodes RFID tags (``rfid_prefix``: the line's company-prefix length) each job
carries its unit's EPC: SGTIN-96 when the serial fits, else SGTIN-198 (standards.epc.binary).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

from drivers.interfaces import DeviceError, Printer, PrintJob
from linectl.ledger import Ledger, LedgerError, LedgerUnavailable, LineNote
from linectl.line.alarms import iso_now
from linectl.line.assignments import assignment, record_assignment
from linectl.line.ledger_trouble import LedgerTrouble
from linectl.line.packs import PackRecord, PackTable
from linectl.line.printahead import PrintAhead
from linectl.line.recovery import clear_printer
from linectl.line.verify import CodeContent
from standards.epc.binary import sgtin_epc

log = logging.getLogger("linectl.runtime")


@dataclass(frozen=True)
class Resync:
    """Outcome of a resynchronisation: jobs cancelled and whether the printer could cancel."""

    cancelled: list[PackRecord]
    cleared: bool
    problem: str | None


class Feeder:
    """Keeps the printer fed with write-ahead serials (see the module docstring)."""

    def __init__(
        self,
        printer: Printer,
        ledger: Ledger,
        tracker: PrintAhead,
        packs: PackTable,
        *,
        depth: int,
        chunk: int,
        on_taken: Callable[[int, bool], None],
        on_loaded: Callable[[], None] | None = None,
        quota: Callable[[], int | None] | None = None,
        actor: str = "line",
        trouble: LedgerTrouble | None = None,
        rfid_prefix: int | None = None,
    ) -> None:
        if depth < 1 or chunk < 1:
            raise ValueError("queue depth and take chunk must be at least 1")
        self.printer = printer
        self.ledger = ledger
        self.tracker = tracker
        self.packs = packs
        self.depth = depth
        self.chunk = chunk
        self.actor = actor
        self.reserve: deque[str] = deque()
        self.issued: dict[str, int] = {}  # serial -> the seq its job was sent for (this run)
        self.batch: str | None = None
        self.content: CodeContent | None = None
        self.loaded = 0
        self._on_taken = on_taken
        self._on_loaded = on_loaded  # jobs went to the printer (packs will be in flight)
        self._quota = quota  # how many more jobs the work order allows (None: no limit)
        self._lock = asyncio.Lock()
        self._refilling: asyncio.Task[None] | None = None
        self._trouble = trouble
        self.unavailable = False  # the last take found the ledger refusing writes
        self.rfid_prefix = rfid_prefix  # company-prefix length of the EPCs; None: no tags

    def activate(self, batch: str | None, content: CodeContent | None) -> None:
        """Feed ``batch`` from now on (None: stop feeding)."""
        self.batch, self.content = batch, content

    async def top_up(self) -> bool:
        """Load jobs until ``depth`` are queued; False when the pool ran short.

        Raises DeviceUnavailable / DeviceError from the printer; the job that failed stays
        tracked (the printer may or may not have it), so the caller must resync before trusting
        the queue again.
        """
        async with self._lock:
            loaded = self.loaded
            try:
                while self.tracker.synced and self.tracker.ahead < self.depth:
                    content = self.content
                    if content is None:
                        return True  # the batch was closed meanwhile: nothing to feed
                    if self.quota_left() == 0:
                        return True  # the work order's quantity (plus allowance) is covered
                    serial = await self._next_serial()
                    if serial is None:  # the ledger refusing writes is not a short pool
                        return self.content is None or self.unavailable
                    await self._load(serial, content)
                return True
            finally:
                if self.loaded != loaded and self._on_loaded is not None:
                    self._on_loaded()

    def quota_left(self) -> int | None:
        """Jobs the work order still allows (None: no limit)."""
        left = self._quota() if self._quota is not None else None
        return None if left is None else max(0, left)

    async def _load(self, serial: str, content: CodeContent) -> None:
        seq = self.tracker.next_seq
        epc = None
        if self.rfid_prefix is not None:  # EpcEncodingError (a ValueError) names what won't fit
            epc = sgtin_epc(content.gtin, serial, self.rfid_prefix).hex
        record = PackRecord(seq=seq, serial=serial, data=content.data(serial), epc=epc)
        job = PrintJob(
            seq=seq,
            data=record.data,
            hri=content.hri(serial),
            symbology=content.symbology,
            epc=epc,
        )
        self.packs.add(record)
        self.issued[serial] = seq
        self.tracker.add(record)
        await self.printer.load(job)
        self.loaded += 1

    async def _next_serial(self) -> str | None:
        """The next written-ahead serial; None when the pool has none left."""
        if not self.reserve:
            await self._refill()
        serial = self.reserve.popleft() if self.reserve else None
        if len(self.reserve) < self.chunk // 2 and self.batch is not None:
            self._refill_soon()
        return serial

    def _refill_soon(self) -> None:
        """Take the next chunk in the background, before the reserve runs out."""
        if self._refilling is None or self._refilling.done():
            self._refilling = asyncio.create_task(self._take_chunk(), name="linectl write-ahead")

    async def _refill(self) -> None:
        """Wait for the background take, or take a chunk now."""
        if self._refilling is None or self._refilling.done():
            self._refill_soon()
        assert self._refilling is not None
        await asyncio.shield(self._refilling)

    async def _take_chunk(self) -> None:
        batch = self.batch
        if batch is None:
            return
        # Loading a job from the reserve moves next_seq up and the reserve down by one, so this
        # sum is the seq of the chunk's first serial until the next resync (which re-records).
        first = self.tracker.next_seq + len(self.reserve) if self.tracker.synced else None
        try:
            taken = await asyncio.to_thread(self._take, batch, first)
        except LedgerUnavailable as exc:  # disk full: the alarm holds the line; next top-up retries
            self.unavailable = True
            if self._trouble is not None:
                self._trouble.failed("write-ahead", exc, retrying=False)
            return
        self.unavailable = False
        self.reserve.extend(taken)
        self._on_taken(len(taken), len(taken) < self.chunk)

    async def settled(self) -> None:
        """Wait for a background take in progress (its serials join the reserve)."""
        if self._refilling is not None and not self._refilling.done():
            with contextlib.suppress(Exception):
                await asyncio.shield(self._refilling)

    def _take(self, batch: str, first_seq: int | None) -> list[str]:
        """Write ahead the next chunk and record which packs it is for (blocking: a thread);
        LedgerUnavailable when the ledger cannot take writes now."""

        def note(serials: list[str]) -> LineNote | None:
            return None if first_seq is None else assignment(batch, first_seq, serials)

        try:  # the serials and the packs they are for, in one transaction
            taken = self.ledger.take_for_encoding(batch, self.chunk, actor=self.actor, then=note)
        except LedgerUnavailable:
            raise
        except LedgerError as exc:
            log.error("cannot take serials of batch %s: %s", batch, exc)
            return []
        return taken

    async def resync(self, next_seq: int) -> Resync:
        """Restart the job/pack prediction with the line standing and ``next_seq`` due next.

        Raises DeviceUnavailable / DeviceError when the printer cannot be asked.
        """
        async with self._lock:
            await self.settled()
            before = await self.printer.status()
            self.tracker.observe(before.print_count, iso_now())
            problem = await clear_printer(self.printer)
            cancelled: list[PackRecord] = []
            keep: list[PackRecord] = []
            if problem is None:
                cancelled = self.tracker.outstanding()
            else:
                keep = self.tracker.outstanding()
                log.warning("printer queue not cancelled (%s): re-basing %d jobs", problem,
                            len(keep))  # fmt: skip
            after = await self.printer.status()
            self.packs.discard(cancelled)
            self.packs.discard(keep)
            moved = self.tracker.sync(next_seq, after.print_count, keep)
            for record in keep:
                self.packs.add(record)
                self.issued[record.serial] = record.seq
            if moved:
                log.info("re-based %d queued jobs to start at pack %d", len(moved), next_seq)
            if self.batch is not None:
                ahead = [r.serial for r in keep] + list(self.reserve)
                await asyncio.to_thread(
                    record_assignment, self.ledger, self.batch, next_seq, ahead, self.actor
                )
            return Resync(cancelled, problem is None, problem)

    async def cancel_all(self) -> tuple[list[PackRecord], list[str]]:
        """The line has ended: cancel the queue; returns (cancelled jobs, unused reserve).

        Jobs still queued stay tracked when the printer cannot cancel them (they are re-based
        at the next start); the caller scraps what is returned.
        """
        async with self._lock:
            cancelled: list[PackRecord] = []
            try:
                status = await self.printer.status()
                self.tracker.observe(status.print_count, iso_now())
                problem = await clear_printer(self.printer)
            except DeviceError as exc:
                problem = str(exc)
            if problem is None:
                cancelled = self.tracker.cancel("line ended; queue cancelled")
                self.packs.discard(cancelled)
            else:
                log.warning("printer queue not cancelled at line end: %s", problem)
                self.tracker.desync(f"line ended; queue not cancelled ({problem})")
            await self.settled()
            unused = list(self.reserve)
            self.reserve.clear()
            return cancelled, unused

    async def revoke_reserve(self) -> list[str]:
        """Hand back the reserve (serials written ahead but never sent) for scrapping."""
        async with self._lock:
            await self.settled()
            unused = list(self.reserve)
            self.reserve.clear()
            return unused
