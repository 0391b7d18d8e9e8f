"""The PLC side of the running line: state mirror, heartbeat, gate reports, fail-safe Hold.

Every ``poll_s`` while packs are in flight or may move (every ``idle_poll_s`` while the line
stands in a wait state with none, and at least once per heartbeat) the PLC's snapshot is read:
its PackML state is mirrored (each change audited; a stop, abort or completion has the print
queue cancelled), a rising heartbeat-lost fault raises a holding alarm, and the PLC's count of
packs at the printer wakes the feeder (or reveals a pack that reached the printer with no job
queued). The PLC's own heartbeat (``Plc.Heartbeat``, changed every 100 ms) that shows the same
value for ``plc_silent_s`` makes the PLC lost, as a link that does not answer does: a PLC
program that stopped may still answer on the network. The host heartbeat is written at least
four times per PLC watchdog period. When the
gate has decided something new, the gate report ring is read (at most every ``gate_poll_s``) and
each report settles its pack; a pack the gate went past without a report (ring overrun) is
scrapped with a holding alarm. Any holding alarm while the line may produce sends Hold. (The
ring holds 40 reports: even the slow poll reads it long before 40 packs pass at full speed.)
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable

from drivers.interfaces import (
    DeviceError,
    GateEvent,
    GateOutcome,
    Plc,
    PlcSnapshot,
    SignalAccess,
    Verdict,
)
from drivers.plc import signals as sig
from linectl.ledger import UnitResult
from linectl.line.alarms import Alarms
from linectl.line.audit import AuditTrail
from linectl.line.events import EventStream, StateChanged
from linectl.line.health import DeviceWatch
from linectl.line.packs import PackRecord, PackTable, settle, unit_verdict
from linectl.line.printahead import PrintAhead
from linectl.line.printing import PRODUCING, Feeding, may_move
from linectl.line.state import LineMirror, Tally
from linectl.line.supervisor import Supervisor
from standards.packml import PackMLCommand, PackMLState, next_state

log = logging.getLogger("linectl.runtime")

S = PackMLState
PLC_SILENT_S = 1.0
"""A PLC heartbeat unchanged this long (ten of its 100 ms periods) is a lost PLC."""
HOLDABLE = frozenset(s for s in PackMLState if next_state(s, PackMLCommand.HOLD) is not None)
ENDED = frozenset({S.STOPPED, S.ABORTED, S.COMPLETE})


class PlcWatch:
    """Stage: talks to the PLC for the running line (see the module docstring)."""

    def __init__(
        self,
        plc: Plc,
        packs: PackTable,
        mirror: LineMirror,
        tally: Tally,
        alarms: Alarms,
        devices: DeviceWatch,
        tracker: PrintAhead,
        feeding: Feeding,
        audit: AuditTrail,
        events: EventStream,
        supervisor: Supervisor,
        *,
        poll_s: float,
        gate_poll_s: float,
        idle_poll_s: float | None = None,
        heartbeat_s: float,
        plc_silent_s: float = PLC_SILENT_S,
        on_outcome: Callable[[UnitResult], None],
        on_late: Callable[[PackRecord], None],
    ) -> None:
        self.plc = plc
        self.packs = packs
        self.mirror = mirror
        self.tally = tally
        self.alarms = alarms
        self.devices = devices
        self.tracker = tracker
        self.feeding = feeding
        self.audit = audit
        self.events = events
        self.supervisor = supervisor
        self.poll_s = poll_s
        self.idle_poll_s = poll_s if idle_poll_s is None else idle_poll_s
        self.gate_poll_s = gate_poll_s
        self.heartbeat_s = heartbeat_s
        self.plc_silent_s = plc_silent_s
        self._plc_beat: tuple[int, float] | None = None  # (value, when first read)
        self.ending: asyncio.Task[None] | None = None  # cancelling the queue after a stop
        self._on_outcome = on_outcome
        self._on_late = on_late
        self._beat = 0
        self._fault_word = 0
        self._hold_sent_at = 0.0
        self._stirred = asyncio.Event()

    async def run(self) -> None:
        plc = self.plc
        loop = asyncio.get_running_loop()
        next_beat = next_gate = 0.0
        gate_seen: int | None = None  # Stations.Gate.LastSeq when the gate ring was last read
        stirred = self._stirred
        while True:
            stirred.clear()  # a wake() from here on cuts the next slow pause short
            events: list[GateEvent] | None = None
            try:
                snapshot = await plc.read_snapshot()
                # The gate ring (the biggest read) only when the gate decided something new.
                if snapshot.last_seq_gate != gate_seen and loop.time() >= next_gate:
                    events = await plc.gate_events()
                    # (half a poll early counts as due: polls every gate_poll_s read it each time)
                    next_gate = loop.time() + self.gate_poll_s - self.poll_s / 2
                    gate_seen = snapshot.last_seq_gate
                if loop.time() >= next_beat:
                    self._beat += 1
                    await plc.write_heartbeat(self._beat)
                    next_beat = loop.time() + self.heartbeat_s
            except DeviceError as exc:
                self.devices.lost("plc", exc)
                gate_seen = None
            else:
                silent = self._plc_silent(snapshot.heartbeat, loop.time())
                if silent is None:
                    self.devices.back("plc")
                else:
                    self.devices.lost("plc", DeviceError(silent))
                if events is not None:
                    self.on_gate_events(events)
                    self._outcomes_lost(snapshot.last_seq_gate)
                self.on_snapshot(snapshot)
                tracker = self.tracker
                if tracker.synced:
                    ahead = tracker.ahead
                    tracker.note_printer_seq(snapshot.last_seq_printer)
                    if tracker.ahead < 0:  # a pack reached the printer with no job queued
                        self.feeding.queue_ran_dry()
                    elif tracker.ahead < ahead:
                        self.feeding.feed.set()
                self.enforce()
            self.mirror.changed()
            if self.packs or may_move(self.mirror.plc_state):
                left = next_beat - loop.time()  # the heartbeat may be due before the next poll
                await asyncio.sleep(min(self.poll_s, left) if left > 0 else self.poll_s)
            else:  # standing, nothing in flight: the heartbeat keeps its period; wake() ends it
                pause = max(self.poll_s, min(self.idle_poll_s, next_beat - loop.time()))
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(pause):
                        await stirred.wait()

    def _plc_silent(self, beat: int, now: float) -> str | None:
        """Why the PLC counts as lost because its heartbeat stands still, or None."""
        seen = self._plc_beat
        if seen is None or seen[0] != beat:
            self._plc_beat = (beat, now)
            return None
        if now - seen[1] < self.plc_silent_s:
            return None
        return f"PLC heartbeat frozen at {beat} for {now - seen[1]:.1f} s (PLC program stopped?)"

    def wake(self) -> None:
        """Jobs were loaded: packs may be in flight soon, poll at the fast period from now."""
        self._stirred.set()

    async def heartbeat_period(self) -> float:
        """Beat at least four times per PLC watchdog period (Host.HeartbeatTimeoutMs)."""
        period = self.heartbeat_s
        plc = self.plc
        if isinstance(plc, SignalAccess):
            (timeout_ms,) = await plc.read([sig.HEARTBEAT_TIMEOUT])
            timeout_ms = max(timeout_ms or sig.DEFAULT_HEARTBEAT_TIMEOUT_MS,
                             sig.MIN_HEARTBEAT_TIMEOUT_MS)  # fmt: skip
            period = min(period, timeout_ms / 4000)
        return period

    def on_snapshot(self, snapshot: PlcSnapshot) -> None:
        mirror = self.mirror
        mirror.snapshot = snapshot
        try:
            state: PackMLState | None = PackMLState(snapshot.line_state)
        except ValueError:
            state = None
        old = mirror.plc_state
        if state != old:
            mirror.plc_state = state
            name = state.name if state is not None else f"unknown ({snapshot.line_state})"
            log.info("line state %s -> %s", old.name if old else None, name)
            before = old.name if old else None
            self.audit.record("line.state", "plc", "", {"state": before}, {"state": name})
            self.events.publish(StateChanged(before, name))
            if state in ENDED and old is not None and old not in ENDED:
                self.ending = self.supervisor.spawn(self.feeding.line_ended(state), "ending")
            if state in PRODUCING:
                self.feeding.feed.set()
        rising = snapshot.fault & ~self._fault_word
        self._fault_word = snapshot.fault
        if rising & sig.Fault.HOST_HEARTBEAT_LOST:
            self.alarms.raise_(
                "plc-heartbeat-lost",
                "the PLC lost linectl's heartbeat and held the line",
                holds=True,
            )

    def on_gate_events(self, events: list[GateEvent]) -> None:
        counters = self.tally.counters
        for event in events:
            counters["packs_gated"] += 1
            self.tally.rate.add()
            record = self.packs.take(event.seq)
            if record is None:
                counters["packs_unserialised"] += 1
                if event.outcome is GateOutcome.PASSED:
                    self.alarms.raise_(
                        "unverified-pass",
                        f"pack {event.seq} passed the gate but linectl sent no job for it",
                        holds=True,
                    )
                elif event.outcome is GateOutcome.REJECTED_UNCONFIRMED:
                    self.alarms.raise_(
                        "reject-unconfirmed",
                        f"reject of pack {event.seq} (no serial) was not confirmed: a bad pack "
                        "may be downstream",
                        holds=True,
                    )
                continue
            self._settle(record, event.outcome)

    def _settle(self, record: PackRecord, outcome: GateOutcome) -> None:
        record.resolved = True
        result = settle(record, outcome)
        if result.alarm is not None:
            code = (
                "reject-unconfirmed"
                if outcome is GateOutcome.REJECTED_UNCONFIRMED
                else "unverified-pass"
            )
            self.alarms.raise_(code, result.alarm, holds=True)
        if not result.good and record.verdict is Verdict.GOOD and record.written:
            # written GOOD in time by our estimate, rejected anyway: verdicts are reaching the
            # gate late. (A GOOD never written is a lost PLC, already alarmed on its own.)
            self._on_late(record)
        self._on_outcome(
            UnitResult(
                serial=record.serial,
                seq=record.seq,
                verdict=unit_verdict(result.good),
                grade=record.grade,
                reason=None if result.reason is None else result.reason.value,
                printed_at=record.printed_at,
                tag=record.tag,
            )
        )

    def _outcomes_lost(self, gate_seq: int) -> None:
        """Packs the gate has passed by without an event (ring overrun): outcome unknown."""
        for record in self.packs.take_through(gate_seq):
            self.alarms.raise_(
                "gate-outcome-lost",
                f"no gate report for pack {record.seq} (serial {record.serial}): scrapped, and "
                "the pack may be downstream",
                holds=True,
            )
            self._settle(record, GateOutcome.REJECTED_UNCONFIRMED)

    def enforce(self) -> None:
        """Fail-safe: a holding alarm while the line may produce sends Hold (0.5 s apart)."""
        state = self.mirror.plc_state
        if state is None or state not in HOLDABLE or not self.alarms.holding:
            return
        now = time.monotonic()
        if now - self._hold_sent_at < 0.5:
            return
        self._hold_sent_at = now
        why = "; ".join(a.code for a in self.alarms.holding)
        self.supervisor.spawn(self.send(PackMLCommand.HOLD, why), "hold")

    async def send(self, command: PackMLCommand, why: str) -> None:
        """A command the line sends on its own (fail-safe Hold, starved Suspend)."""
        before = self.mirror.state_name()
        try:
            await self.plc.command(command)
        except DeviceError as exc:
            log.warning("%s (%s) not carried out: %s", command.name, why, exc)
            return
        self.audit.record(
            "line.command",
            "linectl",
            why,
            {"command": command.name.lower(), "state": before},
            {"accepted": True},
        )

    async def line_end_done(self) -> None:
        """Wait until the queue cancelled after the last stop is dealt with."""
        ending = self.ending
        if ending is not None and not ending.done():
            with contextlib.suppress(Exception):
                await asyncio.shield(ending)


async def read_camera_seq(plc: Plc) -> int:
    """``Stations.Camera.LastSeq`` read now: one signal where the driver can, else the snapshot
    (the trigger the reader station and the frame pairing follow)."""
    if isinstance(plc, SignalAccess):
        (value,) = await plc.read([sig.CAMERA_SEQ])
        return value
    return (await plc.read_snapshot()).last_seq_camera
