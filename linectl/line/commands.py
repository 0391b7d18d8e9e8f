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

Every accepted command is written to the audit trail with user and reason. The stage's seams:
the PLC, the ledger, the mirror of the line's state, alarms, device health, the print-ahead
tracker and feeder, the audit trail, the batch switch (activate, end what is in flight), the
outcomes (scrapping), packing (with ``[aggregation]``), and three callables: wait for the line
end to be dealt with (the PLC watch), whether a holding alarm's cause is over, and the status
document the command answers with.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import Awaitable, Callable
from typing import Any

from drivers.interfaces import DeviceError, Plc
from linectl.ledger import Ledger, LedgerError
from linectl.line.alarms import Alarm, Alarms
from linectl.line.audit import AuditTrail
from linectl.line.batch import BatchSwitch
from linectl.line.control import Command, CommandRefused
from linectl.line.feeder import Feeder
from linectl.line.health import DeviceWatch
from linectl.line.outcomes import Outcomes
from linectl.line.packing_link import PackingLink
from linectl.line.printahead import PrintAhead
from linectl.line.reasons import RejectReason
from linectl.line.state import LineMirror
from standards.packml import PackMLCommand, PackMLState

S = PackMLState

_PASS_THROUGH = {
    Command.STOP: PackMLCommand.STOP,
    Command.HOLD: PackMLCommand.HOLD,
    Command.SUSPEND: PackMLCommand.SUSPEND,
    Command.ABORT: PackMLCommand.ABORT,
    Command.CLEAR: PackMLCommand.CLEAR,
}
_ENDED = frozenset({S.STOPPED, S.ABORTED, S.COMPLETE})


class Commands:
    """Stage: operator commands, one at a time (see the module docstring)."""

    def __init__(
        self,
        plc: Plc,
        ledger: Ledger,
        mirror: LineMirror,
        alarms: Alarms,
        health: DeviceWatch,
        tracker: PrintAhead,
        feeder: Feeder,
        audit: AuditTrail,
        batches: BatchSwitch,
        outcomes: Outcomes,
        packing: PackingLink | None,
        *,
        line_end: Callable[[], Awaitable[None]],
        cause_gone: Callable[[Alarm], bool],
        status: Callable[[], dict[str, Any]],
        timeout_s: float,
    ) -> None:
        self.plc = plc
        self.ledger = ledger
        self.mirror = mirror
        self.alarms = alarms
        self.health = health
        self.tracker = tracker
        self.feeder = feeder
        self.audit = audit
        self.batches = batches
        self.outcomes = outcomes
        self.packing = packing
        self.line_end = line_end
        self.cause_gone = cause_gone
        self.status = status
        self.timeout_s = timeout_s
        self.lock = asyncio.Lock()
        self._handlers: dict[Command, Callable[[str, str, str | None], Awaitable[dict[str, Any]]]]
        self._handlers = {
            Command.START: self._start,
            Command.UNHOLD: self._unhold,
            Command.UNSUSPEND: self._unsuspend,
            Command.RESET: self._reset,
            Command.CLOSE_BATCH: self._close_batch,
        }

    async def run(
        self, command: Command | str, *, user: str, reason: str = "", batch: str | None = None
    ) -> dict[str, Any]:
        """Carry out ``command`` for ``user``; returns the new status (CommandRefused: not now)."""
        async with self.lock:
            return await self._run(command, user=user, reason=reason, batch=batch)

    async def _run(
        self, command: Command | str, *, user: str, reason: str, batch: str | None
    ) -> dict[str, Any]:
        try:
            command = Command(command)
        except ValueError:
            known = ", ".join(c.value for c in Command)
            raise CommandRefused(f"unknown command {command!r} (known: {known})") from None
        if not user.strip():
            raise CommandRefused("a command needs the user who gives it")
        if self.mirror.phase != "running":
            raise CommandRefused(f"linectl is {self.mirror.phase}")
        if not self.health.connected("plc"):  # its last state seen may be long gone
            raise CommandRefused(
                f"the PLC is unreachable, the line's state unknown "
                f"({self.health.health['plc'].error}): wait until it answers again"
            )
        before = self.mirror.state_name()
        if command in _PASS_THROUGH:
            await self._plc(_PASS_THROUGH[command])
            detail: dict[str, Any] = {}
        else:
            detail = await self._handlers[command](user, reason, batch)
        after = {"state": self.mirror.state_name()}
        self.audit.record(
            "line.command",
            user,
            reason,
            {"command": command.value, "state": before, "batch": batch},
            after | {k: v for k, v in detail.items() if k != "reconciliation"},
        )
        status = self.status()
        if detail:
            status["result"] = detail
        return status

    async def auto_unsuspend(self) -> None:
        """The pool was refilled while the line was suspended for it: fill the queue, Unsuspend."""
        async with self.lock:
            if self.mirror.plc_state is not S.SUSPENDED or not self.alarms.active("starved"):
                return
            try:
                queued = await self._prime(full=True)
                if not queued:
                    return
                self.alarms.clear("starved")
                await self._plc(PackMLCommand.UNSUSPEND)
            except CommandRefused as exc:
                self.alarms.raise_("starved", f"serial pool refilled but: {exc}", holds=False)
                return
            self.audit.record(
                "line.command", "linectl", "serial pool refilled", {"command": "unsuspend"}, {}
            )

    # --- handlers --------------------------------------------------------------------------------

    async def _start(self, user: str, reason: str, batch: str | None) -> dict[str, Any]:
        if batch is not None:
            await self.batches.activate(batch, user=user)
        order = self.mirror.batch
        if order is None:
            raise CommandRefused("no batch active: START needs batch=...")
        self._require_devices()
        self._acknowledge("START")
        state = self.mirror.plc_state
        if state in (S.STOPPED, S.COMPLETE):
            await self.line_end()
            await self._plc(PackMLCommand.RESET)
            await self._wait(S.IDLE)
        elif state is not S.IDLE:
            raise CommandRefused(
                f"the line is {self.mirror.state_name()}; START needs Idle, Stopped or Complete"
            )
        queued = await self._prime()
        if not queued:
            self._ledger_refused()
            self.alarms.raise_("starved", "serial pool empty: cannot start", holds=False)
            raise CommandRefused(f"batch {order.batch}: no serials left in the pool")
        await self._plc(PackMLCommand.START)
        return {"batch": order.batch, "queued_jobs": queued}

    def _ledger_refused(self) -> None:
        """No job could be queued because the ledger refused the write-ahead: say so."""
        if self.feeder.unavailable:
            raise CommandRefused(
                "the ledger refuses writes (alarm 'ledger': disk full or failing), so no serial "
                "can be written ahead: free space on the ledger's disk, then try again"
            )

    async def _unhold(self, user: str, reason: str, batch: str | None) -> dict[str, Any]:
        if self.mirror.plc_state is not S.HELD:
            raise CommandRefused(f"the line is {self.mirror.state_name()}, not HELD")
        self._require_devices()
        self._acknowledge("UNHOLD")
        queued = 0
        if self.mirror.batch is not None:
            queued = await self._prime()
            if not queued:
                self._ledger_refused()
                raise CommandRefused(
                    f"batch {self.mirror.batch.batch}: no serials left in the pool"
                )
        await self._plc(PackMLCommand.UNHOLD)
        return {"queued_jobs": queued}

    async def _unsuspend(self, user: str, reason: str, batch: str | None) -> dict[str, Any]:
        if self.mirror.plc_state is not S.SUSPENDED:
            raise CommandRefused(f"the line is {self.mirror.state_name()}, not SUSPENDED")
        self._require_devices()
        queued = 0
        if self.mirror.batch is not None:
            queued = await self._prime(full=True)
            if not queued:
                raise CommandRefused(f"batch {self.mirror.batch.batch}: serial pool still empty")
        self.alarms.clear("starved")
        await self._plc(PackMLCommand.UNSUSPEND)
        return {"queued_jobs": queued}

    async def _reset(self, user: str, reason: str, batch: str | None) -> dict[str, Any]:
        cleared = self.alarms.clear_where(lambda a: not (a.holds and self.cause_gone(a)))
        await self.line_end()
        await self._plc(PackMLCommand.RESET)
        return {"alarms_acknowledged": cleared}

    async def _close_batch(self, user: str, reason: str, batch: str | None) -> dict[str, Any]:
        order = self.mirror.batch
        if order is None:
            raise CommandRefused("no batch active")
        if batch is not None and batch != order.batch:
            raise CommandRefused(f"batch {batch} is not the active one ({order.batch})")
        if self.mirror.plc_state not in _ENDED | {S.IDLE}:
            await self._plc(PackMLCommand.STOP)
            await self._wait(S.STOPPED)
        await self.line_end()
        await self.batches.finish_in_flight(RejectReason.LINE_STOPPED)
        packing: dict[str, Any] = {}
        if self.packing is not None:
            packing = await self.packing.close_batch(user=user, reason=reason or "batch end")
        try:
            reconciliation = await asyncio.to_thread(self._close, order.batch, user, reason)
        except LedgerError as exc:
            raise CommandRefused(f"batch {order.batch} cannot be closed: {exc}") from exc
        self.batches.deactivate()
        done = {"batch": order.batch, "reconciliation": reconciliation}
        return done | ({"packing": packing} if packing else {})

    def _close(self, batch: str, user: str, reason: str) -> dict[str, Any]:
        self.ledger.close_work_order(batch, actor=user, reason=reason or "batch closed on the line")
        data: dict[str, Any] = json.loads(self.ledger.reconcile(batch).to_json())
        return data

    # --- steps -----------------------------------------------------------------------------------

    async def _plc(self, command: PackMLCommand) -> None:
        """Send ``command``; once accepted, wait (briefly) until the mirrored state has moved on."""
        before = self.mirror.plc_state
        try:
            await self.plc.command(int(command))
        except DeviceError as exc:
            raise CommandRefused(f"PLC: {exc}") from exc
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(1.0):
                await self.mirror.wait_state(lambda s: s is not before)

    async def _wait(self, state: PackMLState) -> None:
        try:
            async with asyncio.timeout(self.timeout_s):
                await self.mirror.wait_state(lambda s: s is state)
        except TimeoutError:
            raise CommandRefused(
                f"the line did not reach {state.name} within {self.timeout_s} s "
                f"(it is {self.mirror.state_name()})"
            ) from None

    async def _prime(self, *, full: bool = False) -> int:
        """Resynchronise the queue if needed (the line stands still) and fill it; jobs queued.

        With ``full`` a queue the pool cannot fill to its depth counts as none.
        """
        try:
            if self.tracker.needs_resync:
                snapshot = await self.plc.read_snapshot()
                result = await self.feeder.resync(snapshot.last_seq_printer + 1)
                cancelled = [r.serial for r in result.cancelled]
                await self.outcomes.scrap(cancelled, RejectReason.CANCELLED)
            enough = await self.feeder.top_up()
        except DeviceError as exc:
            raise CommandRefused(f"printer or PLC: {exc}") from exc
        except LedgerError as exc:
            raise CommandRefused(f"ledger: {exc}") from exc
        if not enough:
            self.alarms.raise_("starved", "serial pool empty", holds=False)
            if full:
                return 0
        return self.tracker.queued

    def _require_devices(self) -> None:
        lost = self.health.not_answering()
        if lost:
            raise CommandRefused(f"devices not answering: {', '.join(lost)}")

    def _acknowledge(self, command: str) -> None:
        """Clear holding alarms whose cause is over; refuse if some still hold."""
        self.alarms.clear_where(lambda a: not (a.holds and self.cause_gone(a)))
        left = self.alarms.holding
        if left:
            codes = ", ".join(f"{a.code} ({a.message})" for a in left)
            raise CommandRefused(f"{command} refused: alarms still hold the line: {codes}")
