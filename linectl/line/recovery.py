"""Start-up recovery, before anything is printed: nothing left over from a crash may print or pass.

In this order:

1. If the line is still producing (the PLC's watchdog has not held it yet), it is held, and
   recovery waits until the conveyor stands: from then on no pack reaches the gate.
2. The printer's queue is cancelled, so no job sent before the crash lands on a pack later
   (printers that cannot cancel, like WSI, are reported; see :func:`clear_printer`).
3. The PLC's gate report ring (the last ``EVENT_SLOTS`` packs) is read: the evidence of what
   happened to the packs of the crashed run, including those that went by while no daemon ran.
4. Every GOOD still standing in the PLC's verdict ring becomes a REJECT, so a pack still on the
   conveyor is rejected at the gate whatever the old daemon wrote.
5. Every serial left Encoded is resolved. If the ledger proves its outcome (a unit row), that is
   committed. If its pack (from the ``line.assign`` audit rows, see
   :mod:`linectl.line.assignments`) is in the gate ring, the gate proves it: PASSED means the
   crashed daemon verified it GOOD (the gate passes only on a GOOD written for that seq), so it is
   commissioned; rejected means it is scrapped. Anything else is scrapped with reason
   ``crash-recovery`` - it may be on a pack, but that pack will be rejected (step 4).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime

from drivers.interfaces import (
    ClearablePrinter,
    DeviceError,
    GateOutcome,
    Plc,
    Printer,
    SignalAccess,
    Verdict,
)
from drivers.plc import signals as sig
from linectl.config import LineSection
from linectl.ledger import Ledger, SerialState, UnitResult, WorkOrderStatus
from linectl.ledger import Verdict as UnitVerdict
from linectl.lifecycle import EventFactory, record_verdicts
from linectl.line.assignments import latest_assignments
from linectl.line.packs import unit_good, unit_verdict
from linectl.line.reasons import RejectReason
from standards.epcis import events as epcis
from standards.packml import PackMLCommand, PackMLState

log = logging.getLogger("linectl.runtime")

_SLOTS_PER_READ = 16  # 64 registers: well inside one Modbus read
_S = PackMLState
_PRODUCING = frozenset({_S.STARTING, _S.EXECUTE, _S.UNHOLDING, _S.UNSUSPENDING})


@dataclass
class RecoveryReport:
    """What recovery found and did, per batch."""

    state_at_start: str | None = None  # the PackML state the PLC reported before recovery
    held: bool = False  # recovery had to hold a producing line
    printer_cleared: bool = False
    printer_problem: str | None = None
    gate_reports: int = 0  # outcomes read from the PLC's gate ring
    verdicts_revoked: int = 0
    committed: dict[str, int] = field(default_factory=dict)  # commissioned, proven by the gate
    scrapped: dict[str, int] = field(default_factory=dict)
    unconfirmed: list[int] = field(default_factory=list)  # rejects not confirmed meanwhile

    def as_dict(self) -> dict[str, object]:
        return {
            "state_at_start": self.state_at_start,
            "held": self.held,
            "printer_cleared": self.printer_cleared,
            "printer_problem": self.printer_problem,
            "gate_reports": self.gate_reports,
            "verdicts_revoked": self.verdicts_revoked,
            "committed": dict(self.committed),
            "scrapped": dict(self.scrapped),
            "unconfirmed": list(self.unconfirmed),
        }


async def clear_printer(printer: Printer) -> str | None:
    """Cancel the printer's queue; returns None when done, else why it could not be."""
    if not isinstance(printer, ClearablePrinter):
        return "the printer driver cannot cancel queued jobs"
    try:
        await printer.clear()
    except DeviceError as exc:
        return str(exc)
    return None


async def revoke_good_verdicts(plc: Plc, reason: RejectReason) -> int:
    """Rewrite every GOOD in the PLC's verdict ring as REJECT (same seq); returns how many."""
    if not isinstance(plc, SignalAccess):
        log.warning("the PLC driver cannot read the verdict ring; old verdicts not revoked")
        return 0
    revoked = 0
    for first in range(0, sig.VERDICT_SLOTS, _SLOTS_PER_READ):
        slots = sig.VERDICT_RING[first : first + _SLOTS_PER_READ]
        values = await plc.read([s for slot in slots for s in slot.signals])
        for k in range(len(slots)):
            verdict, _, seq = values[3 * k : 3 * k + 3]
            if verdict == Verdict.GOOD:
                await plc.write_verdict(seq, Verdict.REJECT, reason.plc_code)
                revoked += 1
    return revoked


def resolve_encoded(
    ledger: Ledger, line: LineSection, actor: str, outcomes: Mapping[int, GateOutcome]
) -> tuple[dict[str, int], dict[str, int]]:
    """Resolve every Encoded serial of every started batch (blocking: run it in a thread).

    Returns (commissioned per batch, scrapped per batch).
    """
    committed: dict[str, int] = {}
    scrapped: dict[str, int] = {}
    for order in ledger.list_work_orders(WorkOrderStatus.STARTED):
        encoded = ledger.list_serials(order.batch, SerialState.ENCODED)
        if not encoded:
            continue
        factory = EventFactory(line, order)
        assigned = latest_assignments(ledger, encoded)
        proven: list[UnitResult] = []
        unknown: list[str] = []
        by_unit = 0
        for serial in encoded:
            unit = ledger.trace(serial, gtin=order.gtin).unit
            if unit is not None:
                _commit_proven(ledger, factory, serial, unit.verdict, actor)
                by_unit += 1
                continue
            seq = assigned.get(serial)
            outcome = outcomes.get(seq) if seq is not None else None
            if seq is None or outcome is None:
                unknown.append(serial)
            elif outcome is GateOutcome.PASSED:
                proven.append(UnitResult(serial, seq, unit_verdict(True)))
            else:
                reason = RejectReason.CRASH_RECOVERY.value
                proven.append(UnitResult(serial, seq, unit_verdict(False), reason=reason))
        if proven:
            record_verdicts(ledger, factory, proven, actor=actor)
        if unknown:
            reason = RejectReason.CRASH_RECOVERY.value
            ledger.transition(unknown, SerialState.LABEL_SCRAPPED, actor, reason, gtin=order.gtin)
        good = sum(1 for u in proven if unit_good(u.verdict))
        committed[order.batch] = good
        scrapped[order.batch] = len(proven) - good + len(unknown)
        log.warning(
            "recovery: batch %s had %d serials left Encoded: %d settled by their unit, %d by the "
            "gate (%d passed), %d scrapped (crash-recovery)",
            order.batch,
            len(encoded),
            by_unit,
            len(proven),
            good,
            len(unknown),
        )
    return committed, scrapped


def _commit_proven(
    ledger: Ledger, factory: EventFactory, serial: str, verdict: UnitVerdict, actor: str
) -> None:
    """A serial whose unit row was written but whose state was not: follow the unit."""
    reason = "crash-recovery: outcome proven by its unit"
    gtin = factory.work_order.gtin
    if not unit_good(verdict):
        ledger.transition(serial, SerialState.LABEL_SCRAPPED, actor, reason, gtin=gtin)
        return
    wo = factory.work_order
    event = epcis.commissioning_event(
        [factory.epc(serial)],
        lot=wo.lot,
        expiry=factory.expiry(),
        material_lots=dict(wo.materials) or None,
        **factory.common(datetime.now(UTC)),
    )
    outbox = factory.outbox("commissioning", event, [serial])
    ledger.transition(serial, SerialState.COMMISSIONED, actor, reason, gtin=gtin, events=[outbox])


async def hold_the_line(plc: Plc, within_s: float = 5.0) -> tuple[PackMLState | None, bool]:
    """If the line produces, hold it and wait until it stands; (state at start, held?)."""
    state = _state((await plc.read_snapshot()).line_state)
    if state not in _PRODUCING:
        return state, False
    log.warning("recovery: the line is in %s; holding it before anything else", state)
    try:
        await plc.command(PackMLCommand.HOLD)
    except DeviceError as exc:
        log.error("recovery: HOLD refused: %s", exc)
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within_s
    while _state((await plc.read_snapshot()).line_state) in _PRODUCING:
        if loop.time() >= deadline:
            log.error("recovery: the line still produces after %.0f s", within_s)
            break
        await asyncio.sleep(0.02)  # a PLC state change has no event to await
    return state, True


def _state(number: int) -> PackMLState | None:
    try:
        return PackMLState(number)
    except ValueError:
        return None


async def recover(
    ledger: Ledger, line: LineSection, printer: Printer, plc: Plc, *, actor: str
) -> RecoveryReport:
    """Run the recovery steps (see the module docstring); device errors propagate."""
    report = RecoveryReport()
    state, report.held = await hold_the_line(plc)
    report.state_at_start = state.name if state is not None else None
    report.printer_problem = await clear_printer(printer)
    report.printer_cleared = report.printer_problem is None
    if report.printer_problem:
        log.warning("recovery: printer queue not cleared: %s", report.printer_problem)
    events = await plc.gate_events()  # a driver's first call returns what the ring holds
    outcomes = {event.seq: event.outcome for event in events}
    report.gate_reports = len(outcomes)
    report.unconfirmed = sorted(
        seq for seq, o in outcomes.items() if o is GateOutcome.REJECTED_UNCONFIRMED
    )
    report.verdicts_revoked = await revoke_good_verdicts(plc, RejectReason.CRASH_RECOVERY)
    if report.verdicts_revoked:
        log.warning("recovery: %d GOOD verdicts in the PLC revoked", report.verdicts_revoked)
    report.committed, report.scrapped = await asyncio.to_thread(
        resolve_encoded, ledger, line, actor, outcomes
    )
    return report
