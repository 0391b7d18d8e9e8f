"""The line's housekeeping stage: queue depth for the measured speed, pool level and outbox
backlog from the ledger, auto-unsuspend after a refill, the camera's link coming back, and its
stream errors (counted in status; above ``STREAM_ERRORS_ALARM`` in ``STREAM_ERRORS_WINDOW_S``
the alarm ``camera-stream-errors``, cleared after a window without any).

It runs every ``every_s`` while packs may move, every ``idle_s`` while the line stands, and at
once when woken (serials added to the pool)."""

from __future__ import annotations

import asyncio
import contextlib
import math
from collections import deque

from drivers.interfaces import Camera, LinkState
from linectl.ledger import Ledger, SerialState
from linectl.line.alarms import Alarms
from linectl.line.commands import Commands
from linectl.line.events import EventStream, UpstreamLevel
from linectl.line.feeder import Feeder
from linectl.line.health import DeviceWatch
from linectl.line.printing import Feeding, may_move
from linectl.line.state import LineMirror, Tally
from linectl.line.supervisor import Supervisor
from standards.packml import PackMLState

STREAM_ERRORS_WINDOW_S = 10.0
STREAM_ERRORS_ALARM = 10  # more than this many in the window: a cable or network to look at


class Housekeeping:
    """Stage: every ``every_s`` (or when woken) the slow checks of the running line."""

    def __init__(
        self,
        camera: Camera | None,
        ledger: Ledger,
        feeder: Feeder,
        feeding: Feeding,
        mirror: LineMirror,
        tally: Tally,
        alarms: Alarms,
        health: DeviceWatch,
        events: EventStream,
        supervisor: Supervisor,
        commands: Commands,
        *,
        every_s: float,
        pool_check_s: float,
        idle_s: float | None = None,
        queue_depth: int,
        queue_ahead_s: float,
        queue_depth_max: int,
    ) -> None:
        self.camera = camera
        self.ledger = ledger
        self.feeder = feeder
        self.feeding = feeding
        self.mirror = mirror
        self.tally = tally
        self.alarms = alarms
        self.health = health
        self.events = events
        self.supervisor = supervisor
        self.commands = commands
        self.every_s = every_s
        self.idle_s = every_s if idle_s is None else idle_s
        self.pool_check_s = pool_check_s
        self.queue_depth = queue_depth
        self.queue_ahead_s = queue_ahead_s
        self.queue_depth_max = queue_depth_max
        self._asked = asyncio.Event()
        self._stream_errors: deque[tuple[float, int]] = deque()  # (when, camera's count then)

    def wake(self) -> None:
        """Serials were added to the pool (upstream refill): re-check it now."""
        self._asked.set()

    async def run(self) -> None:
        loop = asyncio.get_running_loop()
        next_check = 0.0
        while True:
            asked = False
            pause = self.every_s if may_move(self.mirror.plc_state) else self.idle_s
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(pause):
                    asked = await self._asked.wait()
            self._asked.clear()
            if self.camera is not None and self.camera.link_state is LinkState.CONNECTED:
                self.health.back("camera")
            self.stream_errors(loop.time())
            self.feeder.depth = self.wanted_depth()
            batch = self.mirror.batch
            if batch is not None and (asked or loop.time() >= next_check):
                next_check = loop.time() + self.pool_check_s
                counts, outbox = await asyncio.to_thread(self._pool_and_outbox, batch.batch)
                self.feeding.pool_level(counts)
                self.tally.outbox_pending = outbox
                self.events.publish(UpstreamLevel(outbox))
                if (
                    self.alarms.active("starved")
                    and counts >= self.queue_depth
                    and self.mirror.plc_state is PackMLState.SUSPENDED
                    and not self.commands.lock.locked()
                ):
                    self.supervisor.spawn(self.commands.auto_unsuspend(), "unsuspend")
            self.mirror.changed()

    def stream_errors(self, now: float) -> None:
        """Count the camera's stream errors in status; alarm while they come too often."""
        if self.camera is None:
            return  # a reader's noise is its driver's to count and log
        total = self.camera.protocol_errors
        self.tally.counters["camera_stream_errors"] = total
        seen = self._stream_errors
        seen.append((now, total))
        while len(seen) > 1 and now - seen[1][0] >= STREAM_ERRORS_WINDOW_S:
            seen.popleft()  # seen[0] stays the newest sample at least a window old
        recent = total - seen[0][1]
        if recent > STREAM_ERRORS_ALARM:
            self.alarms.raise_(
                "camera-stream-errors",
                f"camera frame stream: {recent} errors (bad CRC or garbage) in the last "
                f"{STREAM_ERRORS_WINDOW_S:g} s; frames lost are rejects: check its cable or "
                "network",
                holds=False,
            )
        elif recent == 0 and now - seen[0][0] >= STREAM_ERRORS_WINDOW_S:
            self.alarms.clear("camera-stream-errors")

    def wanted_depth(self) -> int:
        """Jobs to keep queued: enough for ``queue_ahead_s`` of line time at today's speed."""
        per_s = self.tally.rate.per_minute() / 60.0
        wanted = math.ceil(per_s * self.queue_ahead_s)
        return max(self.queue_depth, min(self.queue_depth_max, wanted))

    def _pool_and_outbox(self, batch: str) -> tuple[int, int]:
        available = self.ledger.state_counts(batch).get(SerialState.ALLOCATED, 0)
        return available, int(self.ledger.outbox.counts().get("pending", 0))
