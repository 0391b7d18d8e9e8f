"""The printer side of the running line: status polling, print confirmation, feeding, starvation.

- The printer's status is read every ``printer_poll_s``: its counter confirms prints (see
  :mod:`linectl.line.printahead`), a fault (head open, ribbon out...) raises a holding alarm
  and marks the queue for resynchronisation, as does a pack that reached the printer with no job
  queued (the PLC's printer seq ahead of the jobs loaded; see linectl.line.plc_side).
- The feeder (:mod:`linectl.line.feeder`) tops the queue up after every poll and state
  change, but only while the job/pack prediction holds, a batch is active, the printer answers
  and the line is in a state that will take the jobs.
- An empty pool raises ``starved`` and suspends the line before the queue can run dry; a pool
  below ``pool_low_water`` raises ``pool-low`` and calls the refill hook once per dip.
- When the line stops, aborts or completes, the queue is cancelled and the unused write-aheads
  are scrapped (``cancelled``).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

from drivers.interfaces import DeviceError
from linectl.line.alarms import iso_now
from linectl.line.events import PoolLevel
from linectl.line.reasons import RejectReason
from standards.packml import PackMLCommand, PackMLState

if TYPE_CHECKING:
    from linectl.line.runtime import LineRuntime

log = logging.getLogger("linectl.runtime")

S = PackMLState
PRODUCING = frozenset({S.STARTING, S.EXECUTE, S.UNHOLDING, S.UNSUSPENDING})
FEEDING = PRODUCING | {S.HOLDING, S.HELD, S.SUSPENDING, S.SUSPENDED}

PoolHook = Callable[[str, int], Awaitable[None] | None]


class PrintSupervisor:
    """Keeps the printer fed and watched (see the module docstring)."""

    def __init__(self, rt: LineRuntime, on_pool_low: PoolHook | None = None) -> None:
        self.rt = rt
        self.ready = True  # the printer's last status said it can print
        self.feed = asyncio.Event()
        self._on_pool_low = on_pool_low
        self._pool_low_notified = False
        self._suspend_sent_at = 0.0

    async def printer_loop(self) -> None:
        rt = self.rt
        while True:
            try:
                status = await rt.devices.printer.status()
            except DeviceError as exc:
                rt.device_lost("printer", exc)
                rt.resync_needed = True
            else:
                rt.device_back("printer")
                rt.tracker.observe(status.print_count, iso_now())
                self.ready = status.ready
                if not status.ready:
                    faults = ", ".join(status.faults) or "unknown"
                    rt.tracker.desync(f"printer fault: {faults}")
                    rt.resync_needed = True
                    rt.alarm_set.raise_("printer-fault", f"printer not ready: {faults}", holds=True)
                self.feed.set()
            rt.inspection.printer_polled()
            await asyncio.sleep(rt.options.printer_poll_s)

    async def feeder_loop(self) -> None:
        rt = self.rt
        while True:
            await self.feed.wait()
            self.feed.clear()
            if not self._may_feed():
                continue
            try:
                enough = await rt.feeder.top_up()
            except DeviceError as exc:
                rt.device_lost("printer", exc)
                rt.resync_needed = True
                continue
            if not enough:
                self.starved()

    def queue_ran_dry(self) -> None:
        """A pack may have passed the printer unprinted: the job/pack prediction is off."""
        rt = self.rt
        rt.tracker.desync("the print queue ran dry while producing")
        rt.resync_needed = True
        rt.alarm_set.raise_(
            "print-queue-dry", "the printer ran out of jobs while producing", holds=True
        )

    def _may_feed(self) -> bool:
        rt = self.rt
        return (
            rt.phase == "running"
            and rt.batch is not None
            and rt.tracker.synced
            and not rt.resync_needed
            and rt.plc_state in FEEDING
            and rt.health["printer"].connected
        )

    def starved(self) -> None:
        """The pool cannot supply the next job: suspend before the queue runs dry."""
        rt = self.rt
        rt.alarm_set.raise_("starved", "serial pool empty: line suspended", holds=False)
        if rt.plc_state in PRODUCING and time.monotonic() - self._suspend_sent_at > 0.5:
            self._suspend_sent_at = time.monotonic()
            rt.spawn(rt.plc_side.internal_command(PackMLCommand.SUSPEND, "starved"), "suspend")

    def pool_level(self, available: int) -> None:
        """The batch has ``available`` serials left in its pool."""
        rt = self.rt
        rt.pool_available = available
        rt.events.publish(PoolLevel(available))
        low_water = rt.thresholds.pool_low_water
        if available >= low_water:
            rt.alarm_set.clear("pool-low")
            self._pool_low_notified = False
            return
        rt.alarm_set.raise_(
            "pool-low", f"{available} serials left (low water {low_water})", holds=False
        )
        if not self._pool_low_notified and self._on_pool_low is not None and rt.batch:
            self._pool_low_notified = True
            result = self._on_pool_low(rt.batch.batch, available)
            if result is not None:
                rt.spawn(_awaited(result), "pool-refill")

    async def line_ended(self, state: PackMLState) -> None:
        """The line stopped, aborted or completed: cancel the queue, scrap unused write-aheads."""
        rt = self.rt
        log.info("line %s: cancelling the print queue", state.name)
        cancelled, unused = await rt.feeder.cancel_all()
        await rt.scrap([r.serial for r in cancelled] + unused, RejectReason.CANCELLED)
        rt.resync_needed = True


async def _awaited(result: Awaitable[None]) -> None:
    await result
