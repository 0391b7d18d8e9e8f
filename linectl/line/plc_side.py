"""The PLC side of the running line: state mirror, heartbeat, gate reports, fail-safe Hold.

Every ``poll_s`` the PLC's snapshot is read: its PackML state is mirrored (each change audited;
a stop, abort or completion has the print queue cancelled), a rising heartbeat-lost fault raises
a holding alarm, and the PLC's count of packs at the printer wakes the feeder (or reveals a pack
that reached the printer with no job queued). The host heartbeat is written at least four times
per PLC watchdog period. When the gate has decided something new, the gate report ring is read
(at most every ``gate_poll_s``) and each report settles its pack; a pack the gate went past
without a report (ring overrun) is scrapped with a holding alarm. Any holding alarm while the
line may produce sends Hold.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import TYPE_CHECKING

from drivers.interfaces import (
    DeviceError,
    GateEvent,
    GateOutcome,
    PlcSnapshot,
    SignalAccess,
    Verdict,
)
from drivers.plc import signals as sig
from linectl.ledger import UnitResult
from linectl.ledger import Verdict as UnitVerdict
from linectl.line.events import StateChanged
from linectl.line.packs import PackRecord, settle
from linectl.line.printing import PRODUCING
from standards.packml import PackMLCommand, PackMLState, next_state

if TYPE_CHECKING:
    from linectl.line.runtime import LineRuntime

log = logging.getLogger("linectl.runtime")

S = PackMLState
HOLDABLE = frozenset(s for s in PackMLState if next_state(s, PackMLCommand.HOLD) is not None)
ENDED = frozenset({S.STOPPED, S.ABORTED, S.COMPLETE})


class PlcSupervisor:
    """Talks to the PLC for the running line (see the module docstring)."""

    def __init__(self, rt: LineRuntime) -> None:
        self.rt = rt
        self.heartbeat_s = rt.options.heartbeat_s
        self._beat = 0
        self._fault_word = 0
        self._hold_sent_at = 0.0

    async def plc_loop(self) -> None:
        rt = self.rt
        plc, opts = rt.devices.plc, rt.options
        loop = asyncio.get_running_loop()
        next_beat = next_gate = 0.0
        gate_seen: int | None = None  # Stations.Gate.LastSeq when the gate ring was last read
        while True:
            events: list[GateEvent] | None = None
            try:
                snapshot = await plc.read_snapshot()
                # The gate ring (the biggest read) only when the gate decided something new.
                if snapshot.last_seq_gate != gate_seen and loop.time() >= next_gate:
                    events = await plc.gate_events()
                    gate_seen, next_gate = snapshot.last_seq_gate, loop.time() + opts.gate_poll_s
                if loop.time() >= next_beat:
                    self._beat += 1
                    await plc.write_heartbeat(self._beat)
                    next_beat = loop.time() + self.heartbeat_s
            except DeviceError as exc:
                rt.device_lost("plc", exc)
                gate_seen = None
            else:
                rt.device_back("plc")
                if events is not None:
                    self.on_gate_events(events)
                    self._outcomes_lost(snapshot.last_seq_gate)
                self.on_snapshot(snapshot)
                if rt.tracker.synced:
                    ahead = rt.tracker.ahead
                    rt.tracker.note_printer_seq(snapshot.last_seq_printer)
                    if rt.tracker.ahead < 0:  # a pack reached the printer with no job queued
                        rt.printing.queue_ran_dry()
                    elif rt.tracker.ahead < ahead:
                        rt.printing.feed.set()
                self.enforce()
            rt.notify()
            await asyncio.sleep(opts.poll_s)

    async def heartbeat_period(self) -> float:
        """Beat at least four times per PLC watchdog period (Host.HeartbeatTimeoutMs)."""
        rt = self.rt
        period = rt.options.heartbeat_s
        plc = rt.devices.plc
        if isinstance(plc, SignalAccess):
            (timeout_ms,) = await plc.read([sig.HEARTBEAT_TIMEOUT])
            timeout_ms = max(timeout_ms or sig.DEFAULT_HEARTBEAT_TIMEOUT_MS,
                             sig.MIN_HEARTBEAT_TIMEOUT_MS)  # fmt: skip
            period = min(period, timeout_ms / 4000)
        return period

    def on_snapshot(self, snapshot: PlcSnapshot) -> None:
        rt = self.rt
        rt.snapshot = snapshot
        try:
            state: PackMLState | None = PackMLState(snapshot.line_state)
        except ValueError:
            state = None
        old = rt.plc_state
        if state != old:
            rt.plc_state = state
            name = state.name if state is not None else f"unknown ({snapshot.line_state})"
            log.info("line state %s -> %s", old.name if old else None, name)
            rt.audit("line.state", "plc", "", {"state": old.name if old else None}, {"state": name})
            rt.events.publish(StateChanged(old.name if old else None, name))
            if state in ENDED and old is not None and old not in ENDED:
                ending = rt.printing.line_ended(state)
                rt.ending = rt.supervisor.spawn(ending, "ending")
            if state in PRODUCING:
                rt.printing.feed.set()
        rising = snapshot.fault & ~self._fault_word
        self._fault_word = snapshot.fault
        if rising & sig.Fault.HOST_HEARTBEAT_LOST:
            rt.alarm_set.raise_(
                "plc-heartbeat-lost",
                "the PLC lost linectl's heartbeat and held the line",
                holds=True,
            )

    def on_gate_events(self, events: list[GateEvent]) -> None:
        rt = self.rt
        for event in events:
            rt.counters["packs_gated"] += 1
            rt.rate.add()
            record = rt.packs.take(event.seq)
            if record is None:
                rt.counters["packs_unserialised"] += 1
                if event.outcome is GateOutcome.PASSED:
                    rt.alarm_set.raise_(
                        "unverified-pass",
                        f"pack {event.seq} passed the gate but linectl sent no job for it",
                        holds=True,
                    )
                elif event.outcome is GateOutcome.REJECTED_UNCONFIRMED:
                    rt.alarm_set.raise_(
                        "reject-unconfirmed",
                        f"reject of pack {event.seq} (no serial) was not confirmed: a bad pack "
                        "may be downstream",
                        holds=True,
                    )
                continue
            self._settle(record, event.outcome)

    def _settle(self, record: PackRecord, outcome: GateOutcome) -> None:
        rt = self.rt
        record.resolved = True
        result = settle(record, outcome)
        if result.alarm is not None:
            code = (
                "reject-unconfirmed"
                if outcome is GateOutcome.REJECTED_UNCONFIRMED
                else "unverified-pass"
            )
            rt.alarm_set.raise_(code, result.alarm, holds=True)
        if not result.good and record.verdict is Verdict.GOOD and record.written:
            # written GOOD in time by our estimate, rejected anyway: verdicts are reaching the
            # gate late. (A GOOD never written is a lost PLC, already alarmed on its own.)
            rt.inspection.count_reject(record)
        if rt.committer is None:
            return
        rt.committer.add(
            UnitResult(
                serial=record.serial,
                seq=record.seq,
                verdict=UnitVerdict.GOOD if result.good else UnitVerdict.REJECT,
                grade=record.grade,
                reason=None if result.reason is None else result.reason.value,
                printed_at=record.printed_at,
            )
        )

    def _outcomes_lost(self, gate_seq: int) -> None:
        """Packs the gate has passed by without an event (ring overrun): outcome unknown."""
        rt = self.rt
        for record in rt.packs.take_through(gate_seq):
            seq = record.seq
            rt.alarm_set.raise_(
                "gate-outcome-lost",
                f"no gate report for pack {seq} (serial {record.serial}): scrapped, and the "
                "pack may be downstream",
                holds=True,
            )
            self._settle(record, GateOutcome.REJECTED_UNCONFIRMED)

    def enforce(self) -> None:
        """Fail-safe: a holding alarm while the line may produce sends Hold (0.5 s apart)."""
        rt = self.rt
        state = rt.plc_state
        if state is None or state not in HOLDABLE or not rt.alarm_set.holding:
            return
        now = time.monotonic()
        if now - self._hold_sent_at < 0.5:
            return
        self._hold_sent_at = now
        why = "; ".join(a.code for a in rt.alarm_set.holding)
        rt.spawn(self.internal_command(PackMLCommand.HOLD, why), "hold")

    async def internal_command(self, command: PackMLCommand, why: str) -> None:
        """A command the runtime sends on its own (fail-safe Hold, starved Suspend)."""
        rt = self.rt
        before = rt.plc_state
        try:
            await rt.devices.plc.command(command)
        except DeviceError as exc:
            log.warning("%s (%s) not carried out: %s", command.name, why, exc)
            return
        rt.audit(
            "line.command",
            "linectl",
            why,
            {"command": command.name.lower(), "state": before.name if before else None},
            {"accepted": True},
        )
