"""The printer side of the running line: print watch and feeding (two stages).

- :class:`PrintWatch` reads the printer's status: its counter confirms prints (see
  :mod:`linectl.line.printahead`), an RFID printer's read-backs say whether each label's tag
  holds its EPC (``PackRecord.encoded``), a fault (head open, ribbon out...) raises a holding
  alarm and asks for the queue to be resynchronised, as does a pack that reached the printer
  with no job queued (the PLC's printer seq ahead of the jobs loaded; see
  linectl.line.plc_side). It polls at once when a verdict waits for a print confirmation (then
  at most every ``poll_s``), every ``run_poll_s`` while jobs are queued or the line may move,
  every ``idle_poll_s`` otherwise.
- :class:`Feeding` tops the queue up (:mod:`linectl.line.feeder`) after every poll and state
  change, but only while the job/pack prediction holds, a batch is active, the printer answers
  and the line is in a state that will take the jobs. An empty pool raises ``starved`` and
  suspends the line before the queue can run dry; a pool below ``pool_low_water`` raises
  ``pool-low`` and calls the refill hook once per dip. When the line stops, aborts or completes,
  the queue is cancelled and the unused write-aheads are scrapped (``cancelled``).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any

from drivers.interfaces import DeviceError, Printer, RfidPrinter
from linectl.line.alarms import Alarms, iso_now
from linectl.line.events import EventStream, PoolLevel
from linectl.line.feeder import Feeder
from linectl.line.health import DeviceWatch
from linectl.line.packs import PackTable
from linectl.line.printahead import PrintAhead
from linectl.line.reasons import RejectReason
from linectl.line.state import LineMirror, Tally
from linectl.line.supervisor import Supervisor
from standards.packml import PackMLCommand, PackMLState

log = logging.getLogger("linectl.runtime")

S = PackMLState
PRODUCING = frozenset({S.STARTING, S.EXECUTE, S.UNHOLDING, S.UNSUSPENDING})
FEEDING = PRODUCING | {S.HOLDING, S.HELD, S.SUSPENDING, S.SUSPENDED}
STANDING = frozenset({S.IDLE, S.STOPPED, S.ABORTED, S.COMPLETE, S.HELD, S.SUSPENDED})
"""PackML wait states: the conveyor stands, no pack reaches a station (polls may slow down)."""


def encodes_rfid(printer: Printer) -> bool:
    """Whether ``printer`` encodes each job's EPC into its label's RFID tag."""
    return isinstance(printer, RfidPrinter) and printer.encodes_rfid


def rfid_prefix(printer: Printer, company_prefix_length: int) -> int | None:
    """The company-prefix length the feeder encodes EPCs with; None for a printer without RFID."""
    return company_prefix_length if encodes_rfid(printer) else None


def may_move(state: PackMLState | None) -> bool:
    """Whether packs may be moving in ``state`` (an unknown state counts as moving)."""
    return state not in STANDING


PoolHook = Callable[[str, int], Awaitable[None] | None]
SendCommand = Callable[[PackMLCommand, str], Coroutine[Any, Any, None]]
Scrap = Callable[[list[str], RejectReason], Awaitable[None]]


class PrintWatch:
    """Stage: the printer's status, polled; prints confirmed, faults alarmed."""

    def __init__(
        self,
        printer: Printer,
        tracker: PrintAhead,
        devices: DeviceWatch,
        alarms: Alarms,
        *,
        poll_s: float,
        polled: Callable[[], None],
        feed: asyncio.Event,
        wanted: asyncio.Event | None = None,
        mirror: LineMirror | None = None,
        run_poll_s: float | None = None,
        idle_poll_s: float | None = None,
        packs: PackTable | None = None,
    ) -> None:
        self.printer = printer
        self.packs = packs  # where an RFID printer's read-backs are noted
        self.tracker = tracker
        self.devices = devices
        self.alarms = alarms
        self.poll_s = poll_s
        self.run_poll_s = poll_s if run_poll_s is None else run_poll_s
        self.idle_poll_s = self.run_poll_s if idle_poll_s is None else idle_poll_s
        self.ready = True  # the printer's last status said it can print
        self.wanted = asyncio.Event() if wanted is None else wanted  # a verdict waits for a print
        self._mirror = mirror
        self._resting = False  # in a slow pause (nothing queued, the line standing)
        self._polled = polled
        self._feed = feed
        # (known once: a runtime-checkable Protocol's isinstance costs tens of microseconds, and
        # the status is polled up to 50 times a second)
        self._rfid = encodes_rfid(printer)

    async def run(self) -> None:
        loop = asyncio.get_running_loop()
        wanted = self.wanted
        while True:
            wanted.clear()  # a wish made from here on needs a poll that starts after it
            started = loop.time()
            await self.poll()
            if not wanted.is_set():
                self._resting = not self._busy()
                cadence = self.idle_poll_s if self._resting else self.run_poll_s
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout_at(started + cadence):
                        await wanted.wait()
                self._resting = False
            rest = started + self.poll_s - loop.time()
            if rest > 0:
                await asyncio.sleep(rest)

    def wake(self) -> None:
        """Jobs were loaded: a slow pause ends now (their prints will want confirming)."""
        if self._resting:
            self.wanted.set()

    def _busy(self) -> bool:
        """Jobs wait in the printer, or packs may move: poll at the run period."""
        mirror = self._mirror
        return mirror is None or self.tracker.queued > 0 or may_move(mirror.plc_state)

    async def poll(self) -> None:
        """Read the printer's status once and act on it."""
        try:
            status = await self.printer.status()
        except DeviceError as exc:
            self.devices.lost("printer", exc)
            self.tracker.ask_resync("printer lost")
        else:
            self.devices.back("printer")
            self.note_encodings()
            self.tracker.observe(status.print_count, iso_now())
            self.ready = status.ready
            if not status.ready:
                faults = ", ".join(status.faults) or "unknown"
                self.tracker.desync(f"printer fault: {faults}")
                self.tracker.ask_resync(f"printer fault: {faults}")
                self.alarms.raise_("printer-fault", f"printer not ready: {faults}", holds=True)
            self._feed.set()
        self._polled()

    def note_encodings(self) -> None:
        """An RFID printer's read-backs that came in: each pack's tag holds its EPC or not."""
        printer, packs = self.printer, self.packs
        if packs is None or not self._rfid or not isinstance(printer, RfidPrinter):
            return
        for outcome in printer.encode_outcomes():
            record = packs.get(outcome.seq)
            if record is None or record.epc is None:
                log.debug("RFID read-back for seq %d: no pack with an EPC", outcome.seq)
                continue
            record.encoded = outcome.encoded(record.epc)
            if not record.encoded:
                log.info(
                    "pack %d: RFID encode failed (read back %r for %s)",
                    outcome.seq,
                    outcome.epc or "nothing",
                    record.epc,
                )


class Feeding:
    """Stage: keeps the printer fed; starvation, pool level and line end (see the docstring)."""

    def __init__(
        self,
        feeder: Feeder,
        tracker: PrintAhead,
        mirror: LineMirror,
        devices: DeviceWatch,
        alarms: Alarms,
        events: EventStream,
        tally: Tally,
        supervisor: Supervisor,
        *,
        low_water: int,
        send: SendCommand,
        scrap: Scrap,
        on_pool_low: PoolHook | None = None,
        on_order_end: Callable[[], None] | None = None,
    ) -> None:
        self.feeder = feeder
        self.tracker = tracker
        self.mirror = mirror
        self.devices = devices
        self.alarms = alarms
        self.events = events
        self.tally = tally
        self.supervisor = supervisor
        self.low_water = low_water
        self.feed = asyncio.Event()
        self._send = send
        self._scrap = scrap
        self._on_pool_low = on_pool_low
        self._on_order_end = on_order_end
        self._pool_low_notified = False
        self._suspend_sent_at = 0.0

    async def run(self) -> None:
        while True:
            await self.feed.wait()
            self.feed.clear()
            if not self._may_feed():
                continue
            try:
                enough = await self.feeder.top_up()
            except DeviceError as exc:
                self.devices.lost("printer", exc)
                self.tracker.ask_resync("printer lost while loading")
                continue
            if not enough:
                self.starved()

    def queue_ran_dry(self) -> None:
        """A pack may have passed the printer unprinted: the job/pack prediction is off.

        At the end of a work order (no job left that its quantity allows) that is expected:
        the unprinted packs are rejected by the PLC, and the line stops once the packs in
        flight are settled; otherwise it is a fault that holds the line.
        """
        self.tracker.desync("the print queue ran dry while producing")
        self.tracker.ask_resync("the print queue ran dry while producing")
        if self._on_order_end is not None and self.feeder.quota_left() == 0:
            self._on_order_end()
            return
        self.alarms.raise_(
            "print-queue-dry", "the printer ran out of jobs while producing", holds=True
        )

    def _may_feed(self) -> bool:
        m = self.mirror
        return (
            m.phase == "running"
            and m.batch is not None
            and not self.tracker.needs_resync
            and m.plc_state in FEEDING
            and self.devices.connected("printer")
        )

    def starved(self) -> None:
        """The pool cannot supply the next job: suspend before the queue runs dry."""
        self.alarms.raise_("starved", "serial pool empty: line suspended", holds=False)
        if self.mirror.plc_state in PRODUCING and time.monotonic() - self._suspend_sent_at > 0.5:
            self._suspend_sent_at = time.monotonic()
            self.supervisor.spawn(self._send(PackMLCommand.SUSPEND, "starved"), "suspend")

    def pool_level(self, available: int) -> None:
        """The batch has ``available`` serials left in its pool."""
        self.tally.pool_available = available
        self.events.publish(PoolLevel(available))
        if available >= self.low_water:
            self.alarms.clear("pool-low")
            self._pool_low_notified = False
            return
        self.alarms.raise_(
            "pool-low", f"{available} serials left (low water {self.low_water})", holds=False
        )
        batch = self.mirror.batch
        if not self._pool_low_notified and self._on_pool_low is not None and batch:
            self._pool_low_notified = True
            result = self._on_pool_low(batch.batch, available)
            if result is not None:
                self.supervisor.spawn(_awaited(result), "pool-refill")

    def taken(self, taken: int, exhausted: bool) -> None:
        """The feeder wrote ``taken`` serials ahead; ``exhausted``: the pool had no more."""
        left = 0 if exhausted else max(0, (self.tally.pool_available or 0) - taken)
        self.pool_level(left)

    async def line_ended(self, state: PackMLState) -> None:
        """The line stopped, aborted or completed: cancel the queue, scrap unused write-aheads."""
        log.info("line %s: cancelling the print queue", state.name)
        cancelled, unused = await self.feeder.cancel_all()
        await self._scrap([r.serial for r in cancelled] + unused, RejectReason.CANCELLED)
        self.tracker.ask_resync(f"line {state.name.lower()}")


async def _awaited(result: Awaitable[None]) -> None:
    await result
