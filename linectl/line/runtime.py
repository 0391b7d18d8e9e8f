"""The running line: pack pipeline, PackML mirror, fail-safe supervision (implements LineControl).

:class:`LineRuntime` owns the state of one line and these tasks (named, kept in a set, each
watched: a task that dies raises a holding alarm):

- ``plc``: every ``poll_s`` the PLC snapshot (line state, station seqs, fault word), the host
  heartbeat, and - when the gate moved - the gate report ring; each report settles a pack
  (:func:`linectl.line.packs.settle`) and queues its outcome for the grouped commit
  (:mod:`linectl.line.commits`).
- ``printer`` and ``feeder`` (:mod:`linectl.line.printing`): print confirmation from the
  printer's counter, the print-ahead queue kept full (:mod:`linectl.line.feeder`).
- ``camera`` (:mod:`linectl.line.inspection`): every frame decoded, verified, its verdict
  written to the PLC keyed by seq (REJECT ``late`` if it would miss the deadline).
- ``commit``, ``audit`` (line events to the audit trail, in order), ``housekeeping`` (queue
  depth for the measured speed, pool level, auto-unsuspend after a refill, camera link).
- ``packing`` (with ``[aggregation]``, :mod:`linectl.line.packing_link`): the GOOD units of
  every durable commit into cases in line order, case and pallet labels printed and verified.

Fail-safe rules (DESIGN.md section 3): any holding alarm (lost device, unconfirmed reject,
consecutive rejects, printer fault, queue run dry) while the line may produce sends Hold; an
empty pool sends Suspend before the queue runs dry. The PLC owns Line.State; the runtime mirrors
it and audits every change. Start-up recovery is :mod:`linectl.line.recovery`; operator
commands are :mod:`linectl.line.commands`.

In process::

    devices = open_devices(config)           # linectl.line.devices
    await connect_all(devices)
    runtime = LineRuntime(config, ledger, devices)
    await runtime.start(batch)               # recovery first, then the tasks
    await runtime.command(Command.START, user="alice")
    ...
    await runtime.shutdown()                 # Stop, settle/scrap in flight, close devices
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from drivers.camera.decode import DecodeOptions, Decoder
from drivers.interfaces import (
    DeviceError,
    LinkState,
    PlcSnapshot,
    Verdict,
)
from linectl.config import CodeForm, LineConfig
from linectl.ledger import (
    Ledger,
    LedgerError,
    SerialState,
    WorkOrder,
    WorkOrderStatus,
)
from linectl.ledger import Verdict as UnitVerdict
from linectl.lifecycle import EventFactory
from linectl.line.alarms import Alarm, Alarms, iso_now
from linectl.line.commits import Committer
from linectl.line.control import Command, CommandRefused
from linectl.line.devices import DeviceHealth, LineDevices
from linectl.line.events import (
    AlarmCleared,
    AlarmRaised,
    Committed,
    Counters,
    DeviceBack,
    DeviceLost,
    EventStream,
    UpstreamLevel,
)
from linectl.line.feeder import Feeder
from linectl.line.inspection import Inspection
from linectl.line.packing_link import PackingLink
from linectl.line.packs import PackTable, Rate
from linectl.line.plc_side import ENDED, HOLDABLE, PlcSupervisor
from linectl.line.printahead import PrintAhead
from linectl.line.printing import PoolHook, PrintSupervisor
from linectl.line.reasons import RejectReason
from linectl.line.recovery import RecoveryReport, recover
from linectl.line.status import line_status
from linectl.line.supervisor import Supervisor
from linectl.line.verify import CodeContent, Verifier
from standards.packml import PackMLCommand, PackMLState

if TYPE_CHECKING:
    from linectl.line.uplink import Uplink

log = logging.getLogger("linectl.runtime")

S = PackMLState


@dataclass(frozen=True)
class RuntimeOptions:
    """Tuning of the runtime; the defaults suit 75-6,000 packs/min."""

    queue_depth: int = 6  # print-ahead jobs kept in the printer, at least
    queue_ahead_s: float = 0.15  # ... and at least this much line time (at the measured speed)
    queue_depth_max: int = 32
    take_chunk: int = 16  # serials written ahead per ledger transaction (refilled at half)
    poll_s: float = 0.02  # PLC snapshot (line state, station seqs), heartbeat
    gate_poll_s: float = 0.05  # gate report ring, at most this often (when the gate moved)
    printer_poll_s: float = 0.02  # printer status (print confirmation)
    heartbeat_s: float = 0.25
    housekeeping_s: float = 0.2  # camera link state
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
        self.thresholds = config.thresholds
        self.events = EventStream(snapshot=self.status)
        self.supervisor = Supervisor(self._task_failed)
        self.failures = self.supervisor.failures  # tasks that died (a bug): the line holds
        self.alarm_set = Alarms(self._alarm_changed)
        self.health = {
            role: DeviceHealth(role, devices.protocols.get(role, "?"), connected=True)
            for role, _, _ in devices.by_name()
        }
        self.packs = PackTable()
        self.inspection = Inspection(self)
        self.printing = PrintSupervisor(self, on_pool_low)
        self.plc_side = PlcSupervisor(self)
        self.tracker = PrintAhead()
        self.feeder = Feeder(
            devices.printer,
            ledger,
            self.tracker,
            self.packs,
            depth=opts.queue_depth,
            chunk=opts.take_chunk,
            on_taken=self._taken,
            actor=opts.actor,
        )
        self.decoder = Decoder(
            DecodeOptions(allow_qr=config.line.code_form is CodeForm.DIGITAL_LINK_QR),
            threads=opts.decoder_threads,
        )
        self.committer: Committer | None = None
        self.batch: WorkOrder | None = None
        self.content: CodeContent | None = None
        self.verifier: Verifier | None = None
        self.plc_state: PackMLState | None = None
        self.snapshot: PlcSnapshot | None = None
        self.recovery: RecoveryReport | None = None
        self.phase = "created"  # created, recovering, running, stopping, stopped
        self.rate = Rate()
        self.counters: dict[str, int] = dict.fromkeys(
            (
                "verdicts_good",
                "verdicts_reject",
                "verdicts_late",
                "verdicts_unsent",
                "packs_gated",
                "packs_unserialised",
                "commissioned",
                "scrapped",
            ),
            0,
        )
        self.reject_reasons: dict[str, int] = {}
        self.pool_available: int | None = None
        self.outbox_pending: int | None = None
        self.uplink: Uplink | None = None  # upstream tasks, set by start_uplink (daemon)
        self.packing = PackingLink.for_runtime(self)  # [aggregation]: cases, pallets, labels
        self.resync_needed = True
        self._changed = asyncio.Event()
        self._housekeep = asyncio.Event()
        self._audit_queue: asyncio.Queue[tuple[str, str, str, object, object]] = asyncio.Queue()
        self.command_lock = asyncio.Lock()
        self.ending: asyncio.Task[None] | None = None  # cancelling the queue after a stop

    # --- life cycle -----------------------------------------------------------------------------

    async def start(self, batch: str | None = None) -> None:
        """Recover (before anything is printed), then run the tasks; devices must be connected.

        ``batch`` becomes the active batch (started in the ledger if only created); without it a
        single started batch in the ledger is resumed.
        """
        self.phase = "recovering"
        self.spawn(self._audit_writer(), "audit")
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
        self.plc_side.heartbeat_s = await self.plc_side.heartbeat_period()
        self.plc_side.on_snapshot(await self.devices.plc.read_snapshot())
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
            await self.activate(batch, user=self.options.actor)
        self.phase = "running"
        self.spawn(self.plc_side.plc_loop(), "plc")
        self.spawn(self.printing.printer_loop(), "printer")
        self.spawn(self.printing.feeder_loop(), "feeder")
        self.spawn(self.inspection.camera_loop(), "camera")
        self.spawn(self._housekeeping(), "housekeeping")
        self.notify()

    async def activate(self, batch: str, *, user: str) -> WorkOrder:
        """Make ``batch`` the one the line produces (starting it in the ledger if only created)."""
        if self.batch is not None and self.batch.batch != batch:
            raise CommandRefused(f"batch {self.batch.batch} is active; close it first")

        def load() -> tuple[WorkOrder, dict[str, int], dict[SerialState, int]]:
            order = self.ledger.get_work_order(batch)
            if order.status is WorkOrderStatus.CREATED:
                order = self.ledger.start_work_order(batch, actor=user, reason="line start")
            return order, self.ledger.reject_counts(batch), self.ledger.state_counts(batch)

        try:
            order, reasons, states = await asyncio.to_thread(load)
        except LedgerError as exc:
            raise CommandRefused(f"batch {batch}: {exc}") from exc
        if order.status is not WorkOrderStatus.STARTED:
            raise CommandRefused(f"batch {batch} is {order.status.value}")
        line = self.config.line
        self.content = CodeContent(
            line.code_form,
            gtin=order.gtin,
            lot=order.lot,
            expiry=order.expiry,
            domain=line.digital_link_domain,
            allow_day_zero=self.thresholds.allow_expiry_day_zero,
        )
        self.verifier = Verifier(
            self.content,
            self.thresholds.min_grade,
            issued_to=self.feeder.issued.get,
            verified=self.inspection.verified_good.__contains__,
        )
        factory = EventFactory(line, order)
        if self.committer is None:
            self.committer = Committer(
                self.ledger,
                factory,
                on_committed=self._committed,
                on_failed=self._commit_failed,
                max_delay=self.options.commit_delay_s,
                max_units=self.options.commit_units,
                actor=self.options.actor,
            )
            self.spawn(self.committer.run(), "commit")
        else:
            await self.committer.flush()
            self.committer.factory = factory
        self.batch = order
        self.reject_reasons = dict(reasons)
        self.counters["commissioned"] = states.get(SerialState.COMMISSIONED, 0)
        self.counters["scrapped"] = states.get(SerialState.LABEL_SCRAPPED, 0)
        self.pool_available = states.get(SerialState.ALLOCATED, 0)
        self.feeder.activate(batch, self.content)
        if self.packing is not None:
            await self.packing.activate(order)
        self.resync_needed = True
        self.notify()
        return order

    def deactivate(self) -> None:
        """No batch any more (after it was closed)."""
        self.batch = self.content = self.verifier = None
        self.feeder.activate(None, None)
        if self.packing is not None:
            self.packing.deactivate()
        self.resync_needed = True
        self.notify()

    async def shutdown(self, *, close_devices: bool = True) -> None:
        """Stop the line, settle or scrap every pack in flight, flush the ledger, close devices."""
        if self.phase in ("stopping", "stopped"):
            return
        self.phase = "stopping"
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
            self.plc_side.on_gate_events(await self.devices.plc.gate_events())
        await self.supervisor.wait("frame ", 1.0)
        await self.supervisor.cancel("frame ")
        await self.finish_in_flight(RejectReason.LINE_STOPPED)
        self.audit("line.shutdown", "linectl", "SIGTERM or close", None, self._brief())
        await self._drain_audit()
        await self.supervisor.cancel()
        await self.decoder.close()
        if close_devices:
            await self.devices.close()
        self.phase = "stopped"
        self.notify()

    async def finish_in_flight(self, reason: RejectReason) -> None:
        """Cancel the queue and scrap what is left: jobs and reserve (cancelled), packs on the
        conveyor (``reason``, after turning their GOOD verdicts in the PLC into REJECTs)."""
        cancelled, unused = await self.feeder.cancel_all()
        await self.scrap([r.serial for r in cancelled] + unused, RejectReason.CANCELLED)
        left = self.packs.in_order()
        for record in left:
            if record.verdict is Verdict.GOOD:
                with contextlib.suppress(DeviceError):
                    await self.devices.plc.write_verdict(
                        record.seq, Verdict.REJECT, reason.plc_code
                    )
            record.resolved = True
        self.packs.discard(left)
        await self.scrap([r.serial for r in left], reason)
        if self.committer is not None:
            await self.committer.flush()

    async def line_end_done(self) -> None:
        """Wait until the queue cancelled after the last stop is dealt with."""
        ending = self.ending
        if ending is not None and not ending.done():
            with contextlib.suppress(Exception):
                await asyncio.shield(ending)

    async def wait_state(self, predicate: Callable[[PackMLState], bool]) -> PackMLState:
        """Wait until the mirrored PLC state satisfies ``predicate`` (bound it with a timeout)."""
        while self.plc_state is None or not predicate(self.plc_state):
            await self._changed.wait()
        return self.plc_state

    async def wait_for(self, predicate: Callable[[], bool]) -> None:
        """Wait until ``predicate()`` holds, re-checked after every change (tests, the API)."""
        while not predicate():
            await self._changed.wait()

    # --- LineControl ----------------------------------------------------------------------------

    def status(self) -> dict[str, Any]:
        """Line state, batch, counters, reject reasons, pool, devices, alarms (JSON-ready)."""
        return line_status(self)

    def alarms(self) -> list[dict[str, Any]]:
        """Active alarms: code, message, since (ISO time), whether it holds the line."""
        return self.alarm_set.as_list()

    async def command(
        self, command: Command, *, user: str, reason: str = "", batch: str | None = None
    ) -> dict[str, Any]:
        """Carry out an operator command (see linectl.line.commands); returns the status."""
        from linectl.line.commands import run_command

        async with self.command_lock:
            return await run_command(self, command, user=user, reason=reason, batch=batch)

    def wake_feeder(self) -> None:
        """Have the feeder top up the print queue now."""
        self.printing.feed.set()

    def _taken(self, taken: int, exhausted: bool) -> None:
        """The feeder wrote ``taken`` serials ahead; ``exhausted``: the pool had no more."""
        left = 0 if exhausted else max(0, (self.pool_available or 0) - taken)
        self.printing.pool_level(left)

    def notify_pool_changed(self) -> None:
        """Serials were added to the pool (upstream refill): re-check it now."""
        self._housekeep.set()

    # --- ledger ---------------------------------------------------------------------------------

    def _committed(self, units: Any) -> None:
        good = 0
        for unit in units:
            if UnitVerdict(unit.verdict) is UnitVerdict.GOOD:
                good += 1
            else:
                key = unit.reason or "unknown"
                self.reject_reasons[key] = self.reject_reasons.get(key, 0) + 1
        self.counters["commissioned"] += good
        self.counters["scrapped"] += len(units) - good
        self.events.publish(Committed(good, len(units) - good))
        if self.packing is not None:
            self.packing.committed(units)
        self.notify()

    def _commit_failed(self, what: str) -> None:
        self.alarm_set.raise_("ledger", f"ledger write failed: {what}", holds=True)

    async def scrap(self, serials: list[str], reason: RejectReason) -> None:
        """Scrap written-ahead serials that never became a judged pack."""
        if not serials or self.committer is None:
            return
        n = await self.committer.scrap(serials, reason.value)
        self.counters["scrapped"] += n
        self.reject_reasons[reason.value] = self.reject_reasons.get(reason.value, 0) + n
        self.notify()

    def audit(self, command: str, actor: str, reason: str, before: object, after: object) -> None:
        """Append a line event (state change, command, alarm) to the audit trail, in order."""
        self._audit_queue.put_nowait((command, actor, reason, before, after))

    async def _audit_writer(self) -> None:
        while True:
            command, actor, reason, before, after = await self._audit_queue.get()
            try:
                await asyncio.to_thread(
                    self.ledger.record_event, actor, command, reason, before, after
                )
            except LedgerError as exc:
                log.error("audit row %s not written: %s", command, exc)
            finally:
                self._audit_queue.task_done()

    async def _drain_audit(self) -> None:
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(5.0):
                await self._audit_queue.join()

    # --- devices, alarms, housekeeping ----------------------------------------------------------

    def device_lost(self, role: str, exc: BaseException) -> None:
        health = self.health[role]
        health.error = str(exc)
        if health.connected:
            health.connected, health.since = False, iso_now()
            name = self.devices.names[role]
            self.events.publish(DeviceLost(role, name, str(exc)))
            self.alarm_set.raise_(f"device-lost:{name}", f"{role} {name} lost: {exc}", holds=True)
            self.plc_side.enforce()

    def device_back(self, role: str) -> None:
        health = self.health[role]
        if not health.connected:
            health.connected, health.error, health.since = True, None, iso_now()
            log.warning("%s %s is back", role, self.devices.names[role])
            self.events.publish(DeviceBack(role, self.devices.names[role]))

    def _alarm_changed(self, alarm: Alarm, raised: bool) -> None:
        self.events.publish(
            AlarmRaised(alarm.code, alarm.message, alarm.holds)
            if raised
            else AlarmCleared(alarm.code)
        )
        if alarm.holds or alarm.code == "starved":
            after = alarm.as_dict() if raised else {"code": alarm.code, "cleared": True}
            self.audit("line.alarm", "linectl", alarm.message if raised else "", None, after)
        self.notify()

    def condition_gone(self, alarm: Alarm) -> bool:
        """Whether a holding alarm's cause is over, so an operator's Unhold may clear it."""
        if alarm.code.startswith("device-lost:"):
            name = alarm.code.split(":", 1)[1]
            role = next((r for r, n in self.devices.names.items() if n == name), None)
            return role is None or self.health[role].connected
        if alarm.code == "printer-fault":
            return self.printing.ready
        return alarm.code != "task-failed"

    async def _housekeeping(self) -> None:
        loop = asyncio.get_running_loop()
        next_check = 0.0
        while True:
            asked = False
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self.options.housekeeping_s):
                    asked = await self._housekeep.wait()
            self._housekeep.clear()
            if self.devices.camera.link_state is LinkState.CONNECTED:
                self.device_back("camera")
            self.feeder.depth = self._queue_depth()
            if self.batch is not None and (asked or loop.time() >= next_check):
                next_check = loop.time() + self.options.pool_check_s
                counts, outbox = await asyncio.to_thread(self._pool_and_outbox, self.batch.batch)
                self.printing.pool_level(counts)
                self.outbox_pending = outbox
                self.events.publish(UpstreamLevel(outbox))
                if (
                    self.alarm_set.active("starved")
                    and counts >= self.options.queue_depth
                    and self.plc_state is S.SUSPENDED
                    and not self.command_lock.locked()
                ):
                    from linectl.line.commands import auto_unsuspend

                    self.spawn(auto_unsuspend(self), "unsuspend")
            self.notify()

    def _queue_depth(self) -> int:
        """Jobs to keep queued: enough for ``queue_ahead_s`` of line time at today's speed."""
        opts = self.options
        per_s = self.rate.per_minute() / 60.0
        wanted = math.ceil(per_s * opts.queue_ahead_s)
        return max(opts.queue_depth, min(opts.queue_depth_max, wanted))

    def _pool_and_outbox(self, batch: str) -> tuple[int, int]:
        available = self.ledger.state_counts(batch).get(SerialState.ALLOCATED, 0)
        return available, int(self.ledger.outbox.counts().get("pending", 0))

    # --- tasks ----------------------------------------------------------------------------------

    def spawn(self, coro: Coroutine[Any, Any, Any], name: str) -> None:
        self.supervisor.spawn(coro, name)

    def _task_failed(self, task: asyncio.Task[Any]) -> None:
        exc = task.exception()
        self.alarm_set.raise_("task-failed", f"{task.get_name()} failed: {exc!r}", holds=True)
        self.plc_side.enforce()

    def notify(self) -> None:
        self._changed.set()
        self._changed = asyncio.Event()
        if self.events.subscribers:
            self.events.publish(Counters(dict(self.counters)))

    def _brief(self) -> dict[str, Any]:
        return {
            "state": self.plc_state.name if self.plc_state else None,
            "batch": self.batch.batch if self.batch else None,
            "counters": dict(self.counters),
        }
