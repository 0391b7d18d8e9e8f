"""The running line: its stages wired together, and the LineControl they offer (the runtime).

:class:`LineRuntime` builds the stages, each with only the seams it uses, and runs them under one
:class:`~linectl.line.supervisor.Supervisor` (a task that dies raises the holding alarm
``task-failed``):

- ``plc`` (:class:`~linectl.line.plc_side.PlcWatch`): PLC snapshot, heartbeat, gate reports
  settling packs (:func:`linectl.line.packs.settle`) into the grouped commit, fail-safe Hold.
- ``printer`` and ``feeder`` (:mod:`linectl.line.printing`): print confirmation, the print-ahead
  queue kept full (:mod:`linectl.line.feeder`), starvation and pool level.
- ``camera`` (:class:`~linectl.line.inspection.Inspection`): every frame decoded, verified, its
  verdict written to the PLC keyed by seq (REJECT ``late`` if it would miss the deadline); on a
  line that verifies with a smart reader, ``reader``
  (:class:`~linectl.line.reader_station.ReaderStation`) triggers it per pack instead; a camera
  whose frames carry no seq has them paired by trigger first (``pairing``,
  :mod:`linectl.line.frame_pairing`).
- ``commit`` (:mod:`linectl.line.commits`), ``audit`` (:mod:`linectl.line.audit`),
  ``housekeeping`` (queue depth, pool level, auto-unsuspend, camera link).
- ``packing`` (with ``[aggregation]``, :mod:`linectl.line.packing_link`) and the upstream tasks
  (with ``[upstream]``, :mod:`linectl.line.uplink`).

Stages share only small explicit objects: the pack table, the event stream, the alarm set,
device health, the mirror of the line's state, the tallies and the print-ahead tracker (which
alone decides when the queue must be resynchronised). Observers subscribe to :attr:`events`.

In process: ``runtime = LineRuntime(config, ledger, devices)`` (devices connected, see
:mod:`linectl.line.devices`), ``await runtime.start(batch)`` (recovery first, then the tasks),
``await runtime.command(Command.START, user="alice")``, ... ``await runtime.shutdown()``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from drivers.camera.decode import DecodeOptions, Decoder
from drivers.interfaces import DeviceError
from linectl.config import LineConfig, UpstreamSection
from linectl.ledger import Ledger, WorkOrder, WorkOrderStatus
from linectl.line.alarms import Alarm, Alarms
from linectl.line.audit import AuditTrail
from linectl.line.batch import BatchSwitch, overrun_limit
from linectl.line.commands import Commands
from linectl.line.commits import Committer
from linectl.line.control import Command
from linectl.line.devices import LineDevices
from linectl.line.events import (
    AlarmCleared,
    AlarmRaised,
    Counters,
    EventStream,
    Subscription,
)
from linectl.line.feeder import Feeder
from linectl.line.frame_pairing import pair_frames
from linectl.line.health import DeviceWatch, HoldCauses
from linectl.line.housekeeping import Housekeeping
from linectl.line.inspection import Inspection
from linectl.line.ledger_trouble import LedgerTrouble
from linectl.line.outcomes import Outcomes
from linectl.line.packing_link import PackingLink
from linectl.line.packs import PackTable
from linectl.line.plc_side import ENDED, HOLDABLE, PlcWatch
from linectl.line.printahead import PrintAhead
from linectl.line.printing import PRODUCING, Feeding, PoolHook, PrintWatch, rfid_prefix
from linectl.line.reader_station import ReaderStation
from linectl.line.reasons import RejectReason
from linectl.line.recovery import RecoveryReport, recover
from linectl.line.reject_frames import RejectFrames
from linectl.line.state import LineMirror, Tally
from linectl.line.status import StatusSources, line_status
from linectl.line.supervisor import Supervisor
from linectl.line.uplink import Uplink
from standards.packml import PackMLCommand, PackMLState

log = logging.getLogger("linectl.runtime")

S = PackMLState


@dataclass(frozen=True)
class RuntimeOptions:
    """Tuning of the runtime; the defaults suit 75-6,000 packs/min."""

    queue_depth: int = 6  # print-ahead jobs kept in the printer, at least
    queue_ahead_s: float = 0.15  # ... and at least this much line time (at the measured speed)
    queue_depth_max: int = 32
    take_chunk: int = 16  # serials written ahead per ledger transaction (refilled at half)
    poll_s: float = 0.02  # PLC snapshot (state, station seqs) while packs are in flight or move
    idle_poll_s: float = 0.25  # ... while the line stands (a wait state: Idle, Held, Stopped...)
    gate_poll_s: float = 0.05  # gate report ring, at most this often (when the gate moved)
    printer_poll_s: float = 0.02  # printer status while a verdict waits for a print confirmation
    printer_run_poll_s: float = 0.02  # ... at least this often while packs may move
    printer_idle_poll_s: float = 0.5  # ... and while the line stands
    heartbeat_s: float = 0.25
    housekeeping_s: float = 0.2  # queue depth for the speed, camera link state
    housekeeping_idle_s: float = 1.0  # ... while the line stands
    pool_check_s: float = 1.0  # pool level and outbox backlog read from the ledger
    decoder_threads: int = 2
    commit_delay_s: float = 0.05
    commit_units: int = 100
    command_timeout_s: float = 5.0  # waiting for the PLC to reach a state
    actor: str = "line"  # ledger actor for the line's own changes


class LineRuntime:
    """One line's runtime; build it, ``await start()``, drive it with ``command()``."""

    def __init__(
        self,
        config: LineConfig,
        ledger: Ledger,
        devices: LineDevices,
        *,
        options: RuntimeOptions | None = None,
        on_pool_low: PoolHook | None = None,
    ) -> None:
        self.config = config
        self.ledger = ledger
        self.devices = devices
        self.options = opts = options or RuntimeOptions()
        self.thresholds = th = config.thresholds
        self.events = EventStream(snapshot=self.status)
        self.supervisor = Supervisor(self._task_failed)
        self.failures = self.supervisor.failures  # tasks that died (a bug): the line holds
        self.broken = asyncio.Event()  # set when the first one died: the daemon stops, exit 1
        self.quantity_reached: str | None = None  # the batch whose quantity was made
        self._ending_order: asyncio.Task[None] | None = None
        self.alarm_set = Alarms(self._alarm_changed)
        self.mirror = LineMirror(on_change=self._changed)
        self.tally = Tally()
        self.packs = PackTable()
        self.tracker = PrintAhead()
        self.ledger_trouble = LedgerTrouble(self.alarm_set)  # disk full: hold, retry, lose nothing
        self.audit_trail = AuditTrail(ledger, self.ledger_trouble)
        names = {role: name for role, name, _ in devices.by_name()}
        self.health = DeviceWatch(names, devices.protocols, self.alarm_set, self.events)
        self.feeder = Feeder(
            devices.printer,
            ledger,
            self.tracker,
            self.packs,
            depth=opts.queue_depth,
            chunk=opts.take_chunk,
            on_taken=lambda taken, exhausted: self.feeding.taken(taken, exhausted),
            on_loaded=self._jobs_loaded,
            quota=self._quota,
            actor=opts.actor,
            trouble=self.ledger_trouble,
            rfid_prefix=rfid_prefix(devices.printer, config.line.company_prefix_length),
        )
        self.decoder = Decoder(
            DecodeOptions(allow_qr=config.line.reads_qr),
            threads=opts.decoder_threads,
        )
        self.recovery: RecoveryReport | None = None
        self.uplink: Uplink | None = None  # upstream tasks, set by start_uplink (daemon)
        self.packing = PackingLink.for_line(
            config, ledger, devices, self.alarm_set, self.health, self.mirror, self.supervisor
        )  # [aggregation]: cases, pallets, labels
        self.outcomes = Outcomes(
            ledger, self.tally, self.events, self.alarm_set, self.mirror, self.supervisor,
            on_durable=self.packing.committed if self.packing is not None else None,
            on_good=self._good_count,
            max_delay=opts.commit_delay_s, max_units=opts.commit_units, actor=opts.actor,
            trouble=self.ledger_trouble,
        )  # fmt: skip
        self.feeding = Feeding(
            self.feeder, self.tracker, self.mirror, self.health, self.alarm_set, self.events,
            self.tally, self.supervisor, low_water=th.pool_low_water,
            send=lambda command, why: self.plc_watch.send(command, why),
            scrap=self.outcomes.scrap, on_pool_low=on_pool_low, on_order_end=self._order_end,
        )  # fmt: skip
        self.inspection = Inspection(
            devices.camera, devices.plc, self.decoder, ledger, self.packs, self.mirror,
            self.tally, self.alarm_set, self.health, self.tracker, self.events, self.supervisor,
            deadline_ms=th.verdict_deadline_ms, reject_limit=th.consecutive_rejects_hold,
        )  # fmt: skip
        self.frame_pairing = pair_frames(
            devices.camera, devices.plc, self.inspection, self.packs, self.mirror
        )
        self.reader_station = None if devices.reader is None else ReaderStation(
            devices.reader, devices.plc, self.inspection, self.packs, self.mirror, self.health
        )  # fmt: skip
        self.print_watch = PrintWatch(
            devices.printer, self.tracker, self.health, self.alarm_set,
            poll_s=opts.printer_poll_s, polled=self.inspection.printer_polled,
            feed=self.feeding.feed, wanted=self.inspection.print_wanted, mirror=self.mirror,
            run_poll_s=opts.printer_run_poll_s, idle_poll_s=opts.printer_idle_poll_s,
        )  # fmt: skip
        self.plc_watch = PlcWatch(
            devices.plc, self.packs, self.mirror, self.tally, self.alarm_set, self.health,
            self.tracker, self.feeding, self.audit_trail, self.events, self.supervisor,
            poll_s=opts.poll_s, idle_poll_s=opts.idle_poll_s, gate_poll_s=opts.gate_poll_s,
            heartbeat_s=opts.heartbeat_s,
            on_outcome=self.outcomes.add, on_late=self.inspection.count_reject,
        )  # fmt: skip
        self.batches = BatchSwitch(
            ledger, config.line, th, devices.plc, self.mirror, self.tally, self.packs,
            self.tracker, self.feeder, self.outcomes, self.packing,
            verified=self.inspection.verified_good.__contains__,
        )  # fmt: skip
        self.hold_causes = HoldCauses(
            self.health, lambda: self.print_watch.ready, lambda: self.ledger_trouble.healthy
        )
        self.commands = Commands(
            devices.plc, ledger, self.mirror, self.alarm_set, self.health, self.tracker,
            self.feeder, self.audit_trail, self.batches, self.outcomes, self.packing,
            line_end=self.plc_watch.line_end_done, cause_gone=self.hold_causes.gone,
            status=self.status, timeout_s=opts.command_timeout_s,
        )  # fmt: skip
        self.command_lock = self.commands.lock
        self._status_sources = StatusSources(
            config.line, self.mirror, self.tally, self.packs, self.tracker, self.feeder,
            self.inspection, self.alarm_set, self.health, th.pool_low_water, self.failures,
            self.packing, lambda: self.uplink.status() if self.uplink is not None else None,
        )  # fmt: skip
        self.housekeeping = Housekeeping(
            devices.camera, ledger, self.feeder, self.feeding, self.mirror, self.tally,
            self.alarm_set, self.health, self.events, self.supervisor, self.commands,
            every_s=opts.housekeeping_s, idle_s=opts.housekeeping_idle_s,
            pool_check_s=opts.pool_check_s,
            queue_depth=opts.queue_depth, queue_ahead_s=opts.queue_ahead_s,
            queue_depth_max=opts.queue_depth_max,
        )  # fmt: skip

    # --- what the stages share, for status, commands and tests ----------------------------------

    @property
    def phase(self) -> str:
        return self.mirror.phase

    @property
    def plc_state(self) -> PackMLState | None:
        return self.mirror.plc_state

    @property
    def batch(self) -> WorkOrder | None:
        return self.mirror.batch

    # --- life cycle -----------------------------------------------------------------------------

    async def start(self, batch: str | None = None) -> None:
        """Recover (before anything is printed), then run the tasks; devices must be connected.

        ``batch`` becomes the active batch (started in the ledger if only created); without it a
        single started batch in the ledger is resumed.
        """
        self.mirror.phase = "recovering"
        self.supervisor.spawn(self.audit_trail.run(), "audit")
        self.recovery = await recover(
            self.ledger,
            self.config.line,
            self.devices.printer,
            self.devices.plc,
            actor=self.options.actor,
        )
        if not self.recovery.printer_cleared:
            self.alarm_set.raise_(
                "printer-not-cleared",
                f"printer queue could not be cancelled at start: {self.recovery.printer_problem}",
                holds=False,
            )
        self.audit("line.recovery", "linectl", "start-up", None, self.recovery.as_dict())
        self.plc_watch.heartbeat_s = await self.plc_watch.heartbeat_period()
        self.plc_watch.on_snapshot(await self.devices.plc.read_snapshot())
        await self.inspection.warm_up()
        if self.recovery.held or self.plc_state in HOLDABLE:
            self.alarm_set.raise_(
                "recovery",
                f"the line was in {self.recovery.state_at_start} when linectl started: held "
                "until an operator unholds",
                holds=True,
            )
        if self.recovery.unconfirmed:
            seqs = ", ".join(str(s) for s in self.recovery.unconfirmed[:10])
            self.alarm_set.raise_(
                "reject-unconfirmed",
                f"while linectl was down the rejects of packs {seqs} were not confirmed: a bad "
                "pack may be downstream",
                holds=True,
            )
        if batch is None:
            started = await asyncio.to_thread(self.ledger.list_work_orders, WorkOrderStatus.STARTED)
            batch = started[0].batch if len(started) == 1 else None
        if batch is not None:
            await self.batches.activate(batch, user=self.options.actor)
        self.mirror.phase = "running"
        self.supervisor.spawn(self.plc_watch.run(), "plc")
        self.supervisor.spawn(self.print_watch.run(), "printer")
        self.supervisor.spawn(self.feeding.run(), "feeder")
        if self.reader_station is not None:
            self.supervisor.spawn(self.reader_station.run(), "reader")
        else:
            self.supervisor.spawn(self.inspection.run(), "camera")
        if self.frame_pairing is not None:
            self.supervisor.spawn(self.frame_pairing.run(), "pairing")
        self.supervisor.spawn(self.housekeeping.run(), "housekeeping")
        self.notify()

    @property
    def committer(self) -> Committer | None:
        """The active batch's grouped committer (None before the first batch)."""
        return self.outcomes.committer

    async def shutdown(self, *, close_devices: bool = True) -> None:
        """Stop the line, settle or scrap every pack in flight, flush the ledger, close devices."""
        if self.phase in ("stopping", "stopped"):
            return
        self.mirror.phase = "stopping"
        log.info("shutting down: stopping the line")
        self.feeder.activate(None, None)
        with contextlib.suppress(DeviceError, TimeoutError):
            if self.plc_state is not None and self.plc_state not in ENDED | {S.IDLE}:
                await self.devices.plc.command(PackMLCommand.STOP)
                async with asyncio.timeout(self.options.command_timeout_s):
                    await self.wait_state(lambda s: s in ENDED)
        await self.line_end_done()
        await self.supervisor.cancel(keep=("commit", "audit", "frame "))
        with contextlib.suppress(DeviceError):
            self.plc_watch.on_gate_events(await self.devices.plc.gate_events())
        await self.inspection.settle(1.0)
        await self.supervisor.cancel("frame ")
        await self.batches.finish_in_flight(RejectReason.LINE_STOPPED)
        self.audit("line.shutdown", "linectl", "SIGTERM or close", None, self._brief())
        await self.audit_trail.drain()
        await self.supervisor.cancel()
        await self.decoder.close()
        if close_devices:
            await self.devices.close()
        self.mirror.phase = "stopped"
        self.notify()

    async def line_end_done(self) -> None:
        """Wait until the queue cancelled after the last stop is dealt with."""
        await self.plc_watch.line_end_done()

    async def wait_state(self, predicate: Callable[[PackMLState], bool]) -> PackMLState:
        """Wait until the mirrored PLC state satisfies ``predicate`` (bound it with a timeout)."""
        return await self.mirror.wait_state(predicate)

    async def wait_for(self, predicate: Callable[[], bool]) -> None:
        """Wait until ``predicate()`` holds, re-checked after every change (tests, the API)."""
        await self.mirror.wait_for(predicate)

    def start_uplink(self, section: UpstreamSection | None = None) -> Uplink | None:
        """The upstream tasks (``[upstream]`` of the configuration, or ``section``), started."""
        section = section or self.config.upstream
        if section is None or (section.epcis is None and section.provisioning is None):
            return None
        self.uplink = Uplink(
            section, self.ledger, self.mirror, self.tally, self.alarm_set, self.supervisor,
            low_water=self.thresholds.pool_low_water,
            request_size=self.thresholds.pool_request_size,
            pool_level=self.feeding.pool_level, pool_changed=self.notify_pool_changed,
        )  # fmt: skip
        self.uplink.start()
        return self.uplink

    # --- LineControl ----------------------------------------------------------------------------

    def status(self) -> dict[str, Any]:
        """Line state, batch, counters, reject reasons, pool, devices, alarms (JSON-ready)."""
        status = line_status(self._status_sources)
        order = self.mirror.batch
        if order is not None:  # planned against made, and the most the line may commission
            status["batch"] |= {
                "quantity_limit": overrun_limit(order.quantity, self.thresholds.overrun_percent),
                "made": self.tally.counters["commissioned"],
                "quantity_reached": self.quantity_reached == order.batch,
            }
        return status

    def alarms(self) -> list[dict[str, Any]]:
        """Active alarms: code, message, since (ISO time), whether it holds the line."""
        return self.alarm_set.as_list()

    def subscribe(self, maxsize: int = 1000) -> Subscription:
        """A bounded subscription to the line's events (observers: control API, HMI, OPC UA)."""
        return self.events.subscribe(maxsize)

    def reject_frames(self) -> RejectFrames:
        """The camera frames of the last rejected packs (kept by the inspection stage)."""
        return self.inspection.rejects

    async def command(
        self, command: Command, *, user: str, reason: str = "", batch: str | None = None
    ) -> dict[str, Any]:
        """Carry out an operator command (see linectl.line.commands); returns the status."""
        return await self.commands.run(command, user=user, reason=reason, batch=batch)

    def wake_feeder(self) -> None:
        """Have the feeder top up the print queue now."""
        self.feeding.feed.set()

    def notify_pool_changed(self) -> None:
        """Serials were added to the pool (upstream refill): re-check it now."""
        self.housekeeping.wake()

    # --- audit, alarms, tasks ------------------------------------------------------------------

    def _jobs_loaded(self) -> None:
        """Packs will soon be in flight: the watches leave their slow pauses."""
        self.plc_watch.wake()
        self.print_watch.wake()

    def audit(self, command: str, actor: str, reason: str, before: object, after: object) -> None:
        """Append a line event (state change, command, alarm) to the audit trail, in order."""
        self.audit_trail.record(command, actor, reason, before, after)

    def _quota(self) -> int | None:
        """Jobs the active work order still allows: none once its quantity is made; else up to
        quantity + overrun allowance, counting every pack that may still turn out good."""
        order = self.mirror.batch
        if order is None:
            return None
        made = self.tally.counters["commissioned"]
        if made >= order.quantity:
            return 0
        limit = overrun_limit(order.quantity, self.thresholds.overrun_percent)
        return limit - made - len(self.packs) - self.outcomes.unsettled

    def _good_count(self, made: int) -> None:
        """The work order's quantity is made: the feeder sends no more jobs (see ``_quota``)."""
        order = self.mirror.batch
        if order is None or made < order.quantity or self.quantity_reached == order.batch:
            return
        self.quantity_reached = order.batch
        log.info("batch %s: quantity %d reached (%d good)", order.batch, order.quantity, made)
        self.notify()

    def _order_end(self) -> None:
        """The last job the work order allows went on a pack: stop once the packs in flight
        are settled (the unprinted packs behind them are rejected by the PLC)."""
        if self._ending_order is None or self._ending_order.done():
            self._ending_order = self.supervisor.spawn(self._finish_order(), "order-end")

    async def _finish_order(self) -> None:
        await self.wait_for(lambda: not self.packs and not self.outcomes.unsettled)
        await self.outcomes.flush()
        order, made = self.mirror.batch, self.tally.counters["commissioned"]
        if order is None or self.mirror.plc_state not in PRODUCING:
            return
        if made >= order.quantity:
            why = f"work order quantity {order.quantity} reached ({made} good)"
        else:
            why = (
                f"work order quantity {order.quantity}: {made} good, the overrun allowance is "
                "used up by rejects; start again for the rest"
            )
        await self.plc_watch.send(PackMLCommand.STOP, why)

    def _alarm_changed(self, alarm: Alarm, raised: bool) -> None:
        self.events.publish(
            AlarmRaised(alarm.code, alarm.message, alarm.holds)
            if raised
            else AlarmCleared(alarm.code)
        )
        if alarm.holds or alarm.code == "starved":
            after = alarm.as_dict() if raised else {"code": alarm.code, "cleared": True}
            self.audit("line.alarm", "linectl", alarm.message if raised else "", None, after)
        if raised and alarm.holds:
            self.plc_watch.enforce()
        self.notify()

    def _task_failed(self, task: asyncio.Task[Any]) -> None:
        # raising a holding alarm already sends Hold (_alarm_changed), and the PLC watch
        # re-checks on every poll; the message keeps the first cause, later ones only count
        first, more = self.failures[0], len(self.failures) - 1
        also = f" (and {more} more)" if more else ""
        self.alarm_set.raise_("task-failed", f"{first}{also}", holds=True)
        self.broken.set()

    def notify(self) -> None:
        """Something changed: wake the waiters (commands, tests) and tell the observers."""
        self.mirror.changed()

    def _changed(self) -> None:
        if self.events.subscribers:
            self.events.publish(Counters(dict(self.tally.counters)))

    def _brief(self) -> dict[str, Any]:
        return {
            "state": self.mirror.state_name(),
            "batch": self.batch.batch if self.batch else None,
            "counters": dict(self.tally.counters),
        }
