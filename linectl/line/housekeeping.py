"""The line's housekeeping stage: queue depth for the measured speed, pool level and outbox
backlog from the ledger, auto-unsuspend after a refill, and the camera's link coming back.

It runs every ``every_s`` while packs may move, every ``idle_s`` while the line stands, and at
once when woken (serials added to the pool)."""

from __future__ import annotations

import asyncio
import contextlib
import math

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


class Housekeeping:
    """Stage: every ``every_s`` (or when woken) the slow checks of the running line."""

    def __init__(
        self,
        camera: Camera,
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
            if self.camera.link_state is LinkState.CONNECTED:
                self.health.back("camera")
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

    def wanted_depth(self) -> int:
        """Jobs to keep queued: enough for ``queue_ahead_s`` of line time at today's speed."""
        per_s = self.tally.rate.per_minute() / 60.0
        wanted = math.ceil(per_s * self.queue_ahead_s)
        return max(self.queue_depth, min(self.queue_depth_max, wanted))

    def _pool_and_outbox(self, batch: str) -> tuple[int, int]:
        available = self.ledger.state_counts(batch).get(SerialState.ALLOCATED, 0)
        return available, int(self.ledger.outbox.counts().get("pending", 0))
