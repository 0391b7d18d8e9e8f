"""Operator commands on a running line: PackML commands to the PLC, with the runtime's checks.

The PLC owns the state model; linectl sends the PackML command (standards.packml numbers) and
mirrors the state the PLC reports. Before passing some commands on, linectl does its part:

- START: needs a batch (a created one is started in the ledger). From Stopped or Complete it
  sends Reset first and waits for Idle. Every device must answer and every holding alarm must be
  over; the print queue is resynchronised and filled before Start, so the first pack is printed.
- UNHOLD: every device answers, the holding alarms whose cause is gone are acknowledged (a lost
  device only once it is back); the queue is resynchronised first if the printer was lost, ran
  dry or faulted, and filled.
- UNSUSPEND: the queue is filled first; refused while the pool is empty.
- RESET: acknowledges the holding alarms whose cause is gone.
- CLOSE_BATCH: stops the line, scraps what is left in flight (``line-stopped``: their GOOD
  verdicts are revoked in the PLC first) and the cancelled jobs; with ``[aggregation]`` closes
  the partial case and pallet (labelled and verified) and applies the orphan policy; closes
  the work order and returns its reconciliation.

Every accepted command is written to the audit trail with user and reason.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from drivers.interfaces import DeviceError
from linectl.ledger import LedgerError
from linectl.line.control import Command, CommandRefused
from linectl.line.reasons import RejectReason
from standards.packml import PackMLCommand, PackMLState

if TYPE_CHECKING:
    from linectl.line.runtime import LineRuntime

S = PackMLState
Handler = Callable[["LineRuntime", str, str, str | None], Awaitable[dict[str, Any]]]

_PASS_THROUGH = {
    Command.STOP: PackMLCommand.STOP,
    Command.HOLD: PackMLCommand.HOLD,
    Command.SUSPEND: PackMLCommand.SUSPEND,
    Command.ABORT: PackMLCommand.ABORT,
    Command.CLEAR: PackMLCommand.CLEAR,
}
_ENDED = frozenset({S.STOPPED, S.ABORTED, S.COMPLETE})


async def run_command(
    rt: LineRuntime, command: Command | str, *, user: str, reason: str, batch: str | None
) -> dict[str, Any]:
    """Carry out ``command`` (the caller holds ``rt.command_lock``); returns the new status."""
    try:
        command = Command(command)
    except ValueError:
        known = ", ".join(c.value for c in Command)
        raise CommandRefused(f"unknown command {command!r} (known: {known})") from None
    if not user.strip():
        raise CommandRefused("a command needs the user who gives it")
    if rt.phase != "running":
        raise CommandRefused(f"linectl is {rt.phase}")
    before = _state_name(rt)
    if command in _PASS_THROUGH:
        await _plc(rt, _PASS_THROUGH[command])
        detail: dict[str, Any] = {}
    else:
        detail = await _HANDLERS[command](rt, user, reason, batch)
    rt.audit(
        "line.command",
        user,
        reason,
        {"command": command.value, "state": before, "batch": batch},
        {"state": _state_name(rt)} | {k: v for k, v in detail.items() if k != "reconciliation"},
    )
    status = rt.status()
    if detail:
        status["result"] = detail
    return status


async def auto_unsuspend(rt: LineRuntime) -> None:
    """The pool was refilled while the line was suspended for it: fill the queue, Unsuspend."""
    async with rt.command_lock:
        if rt.plc_state is not S.SUSPENDED or not rt.alarm_set.active("starved"):
            return
        try:
            queued = await _prime(rt, full=True)
            if not queued:
                return
            rt.alarm_set.clear("starved")
            await _plc(rt, PackMLCommand.UNSUSPEND)
        except CommandRefused as exc:
            rt.alarm_set.raise_("starved", f"serial pool refilled but: {exc}", holds=False)
            return
        rt.audit("line.command", "linectl", "serial pool refilled", {"command": "unsuspend"}, {})


# --- handlers ------------------------------------------------------------------------------------


async def _start(rt: LineRuntime, user: str, reason: str, batch: str | None) -> dict[str, Any]:
    if batch is not None:
        await rt.activate(batch, user=user)
    if rt.batch is None:
        raise CommandRefused("no batch active: START needs batch=...")
    _require_devices(rt)
    _acknowledge(rt, "START")
    state = rt.plc_state
    if state in (S.STOPPED, S.COMPLETE):
        await rt.line_end_done()
        await _plc(rt, PackMLCommand.RESET)
        await _wait(rt, S.IDLE)
    elif state is not S.IDLE:
        raise CommandRefused(
            f"the line is {_state_name(rt)}; START needs Idle, Stopped or Complete"
        )
    queued = await _prime(rt)
    if not queued:
        rt.alarm_set.raise_("starved", "serial pool empty: cannot start", holds=False)
        raise CommandRefused(f"batch {rt.batch.batch}: no serials left in the pool")
    await _plc(rt, PackMLCommand.START)
    return {"batch": rt.batch.batch, "queued_jobs": queued}


async def _unhold(rt: LineRuntime, user: str, reason: str, batch: str | None) -> dict[str, Any]:
    if rt.plc_state is not S.HELD:
        raise CommandRefused(f"the line is {_state_name(rt)}, not HELD")
    _require_devices(rt)
    _acknowledge(rt, "UNHOLD")
    queued = 0
    if rt.batch is not None:
        queued = await _prime(rt)
        if not queued:
            raise CommandRefused(f"batch {rt.batch.batch}: no serials left in the pool")
    await _plc(rt, PackMLCommand.UNHOLD)
    return {"queued_jobs": queued}


async def _unsuspend(rt: LineRuntime, user: str, reason: str, batch: str | None) -> dict[str, Any]:
    if rt.plc_state is not S.SUSPENDED:
        raise CommandRefused(f"the line is {_state_name(rt)}, not SUSPENDED")
    _require_devices(rt)
    queued = 0
    if rt.batch is not None:
        queued = await _prime(rt, full=True)
        if not queued:
            raise CommandRefused(f"batch {rt.batch.batch}: serial pool still empty")
    rt.alarm_set.clear("starved")
    await _plc(rt, PackMLCommand.UNSUSPEND)
    return {"queued_jobs": queued}


async def _reset(rt: LineRuntime, user: str, reason: str, batch: str | None) -> dict[str, Any]:
    cleared = rt.alarm_set.clear_where(lambda a: not (a.holds and rt.condition_gone(a)))
    await rt.line_end_done()
    await _plc(rt, PackMLCommand.RESET)
    return {"alarms_acknowledged": cleared}


async def _close_batch(
    rt: LineRuntime, user: str, reason: str, batch: str | None
) -> dict[str, Any]:
    order = rt.batch
    if order is None:
        raise CommandRefused("no batch active")
    if batch is not None and batch != order.batch:
        raise CommandRefused(f"batch {batch} is not the active one ({order.batch})")
    if rt.plc_state not in _ENDED | {S.IDLE}:
        await _plc(rt, PackMLCommand.STOP)
        await _wait(rt, S.STOPPED)
    await rt.line_end_done()
    await rt.finish_in_flight(RejectReason.LINE_STOPPED)
    packing: dict[str, Any] = {}
    if rt.packing is not None:
        packing = await rt.packing.close_batch(user=user, reason=reason or "batch end")
    try:
        reconciliation = await asyncio.to_thread(_close, rt, order.batch, user, reason)
    except LedgerError as exc:
        raise CommandRefused(f"batch {order.batch} cannot be closed: {exc}") from exc
    rt.deactivate()
    done = {"batch": order.batch, "reconciliation": reconciliation}
    return done | ({"packing": packing} if packing else {})


def _close(rt: LineRuntime, batch: str, user: str, reason: str) -> dict[str, Any]:
    rt.ledger.close_work_order(batch, actor=user, reason=reason or "batch closed on the line")
    data: dict[str, Any] = json.loads(rt.ledger.reconcile(batch).to_json())
    return data


_HANDLERS: dict[Command, Handler] = {
    Command.START: _start,
    Command.UNHOLD: _unhold,
    Command.UNSUSPEND: _unsuspend,
    Command.RESET: _reset,
    Command.CLOSE_BATCH: _close_batch,
}


# --- helpers -------------------------------------------------------------------------------------


async def _plc(rt: LineRuntime, command: PackMLCommand) -> None:
    """Send ``command``; once accepted, wait (briefly) until the mirrored state has moved on."""
    before = rt.plc_state
    try:
        await rt.devices.plc.command(int(command))
    except DeviceError as exc:
        raise CommandRefused(f"PLC: {exc}") from exc
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(1.0):
            await rt.wait_state(lambda s: s is not before)


async def _wait(rt: LineRuntime, state: PackMLState) -> None:
    try:
        async with asyncio.timeout(rt.options.command_timeout_s):
            await rt.wait_state(lambda s: s is state)
    except TimeoutError:
        raise CommandRefused(
            f"the line did not reach {state.name} within {rt.options.command_timeout_s} s "
            f"(it is {_state_name(rt)})"
        ) from None


async def _prime(rt: LineRuntime, *, full: bool = False) -> int:
    """Resynchronise the queue if needed (the line stands still) and fill it; jobs queued.

    With ``full`` a queue the pool cannot fill to its depth counts as none.
    """
    try:
        if rt.resync_needed or not rt.tracker.synced:
            snapshot = await rt.devices.plc.read_snapshot()
            result = await rt.feeder.resync(snapshot.last_seq_printer + 1)
            await rt.scrap([r.serial for r in result.cancelled], RejectReason.CANCELLED)
            rt.resync_needed = False
        enough = await rt.feeder.top_up()
    except DeviceError as exc:
        raise CommandRefused(f"printer or PLC: {exc}") from exc
    except LedgerError as exc:
        raise CommandRefused(f"ledger: {exc}") from exc
    if not enough:
        rt.alarm_set.raise_("starved", "serial pool empty", holds=False)
        if full:
            return 0
    return rt.tracker.queued


def _require_devices(rt: LineRuntime) -> None:
    lost = [
        f"{rt.devices.names[role]} ({h.error})" for role, h in rt.health.items() if not h.connected
    ]
    if lost:
        raise CommandRefused(f"devices not answering: {', '.join(lost)}")


def _acknowledge(rt: LineRuntime, command: str) -> None:
    """Clear holding alarms whose cause is over; refuse if some still hold."""
    rt.alarm_set.clear_where(lambda a: not (a.holds and rt.condition_gone(a)))
    left = rt.alarm_set.holding
    if left:
        codes = ", ".join(f"{a.code} ({a.message})" for a in left)
        raise CommandRefused(f"{command} refused: alarms still hold the line: {codes}")


def _state_name(rt: LineRuntime) -> str | None:
    return rt.plc_state.name if rt.plc_state is not None else None
