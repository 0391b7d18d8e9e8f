"""The line PLC simulator: the gate fail-safe, PackML state model and watchdog of a real line PLC.

It is bound to a VirtualLine: each pack reaching the printer, camera or gate updates that
station's trigger seq; at the gate it passes the pack only if the verdict slot for the pack's seq
holds that seq and GOOD (anything else, late verdicts included, is a reject), the confirmation
sensor confirms the reject unless the FaultPlan says it fails, and the outcome goes to the gate
event ring. One PlcMemory is served over Modbus TCP and OPC UA (simulators.plc_servers).

Run alone: ``python -m simulators.plc --modbus-port 5020 --opcua-port 4840 --speed 600``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import signal
import sys
from collections.abc import Callable, Coroutine
from typing import Any

from drivers.interfaces import GateEvent, GateOutcome, Verdict
from drivers.plc import signals as sig
from simulators.line import FaultPlan, LineLayout, Pack, Station, VirtualLine
from simulators.opcua_security import EndpointSecurity, add_security_arguments, security_from_args
from simulators.plc_memory import PlcMemory
from simulators.plc_servers import ModbusFace, OpcUaFace
from standards.packml import (
    PRODUCING_STATES,
    STATE_COMPLETE,
    PackMLCommand,
    PackMLState,
    next_state,
)

log = logging.getLogger("linectl.simulators.plc")

_MAX32 = 0xFFFFFFFF
_ACKNOWLEDGING = frozenset({PackMLCommand.RESET, PackMLCommand.UNHOLD, PackMLCommand.CLEAR})


class PlcSimulator:
    """A line PLC on Modbus TCP (``port``) and OPC UA (``opcua_port``; None turns it off).

    With ``drive_line`` the simulator ticks the VirtualLine at its speed while the line is in
    Execute and not at all otherwise (standalone mode). Without it whoever owns the line ticks it
    (tests, shared rigs), and the PLC handles every pack it is shown whatever its state.
    """

    def __init__(
        self,
        line: VirtualLine,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        opcua_port: int | None = 0,
        drive_line: bool = False,
        initial_state: PackMLState = PackMLState.STOPPED,
        heartbeat_period: float = 0.1,
        acting_time: float = 0.1,
        heartbeat_timeout_ms: int = sig.DEFAULT_HEARTBEAT_TIMEOUT_MS,
        opcua_security: EndpointSecurity | None = None,
    ) -> None:
        if heartbeat_period <= 0 or acting_time < 0:
            raise ValueError("heartbeat_period must be > 0 and acting_time >= 0")
        self.line = line
        self.host = host
        self.drive_line = drive_line
        self.heartbeat_period = heartbeat_period
        self.acting_time = acting_time
        self.memory = PlcMemory()
        self.events: list[GateEvent] = []  # every gate outcome, for tests (the ring keeps M)
        self.state_history: list[PackMLState] = [initial_state]
        self.modbus = ModbusFace(self.memory, self._host_wrote, host, port)
        self.opcua = (
            OpcUaFace(self.memory, self._host_wrote, host, opcua_port, security=opcua_security)
            if opcua_port is not None
            else None
        )
        self.startup_seconds: dict[str, float] = {}
        m = self.memory
        m.set(sig.MAP_VERSION_SIGNAL, sig.MAP_VERSION)
        m.set(sig.VERDICT_SLOTS_SIGNAL, sig.VERDICT_SLOTS)
        m.set(sig.EVENT_SLOTS_SIGNAL, sig.EVENT_SLOTS)
        m.set(sig.LINE_STATE, int(initial_state))
        m.set(sig.HEARTBEAT_TIMEOUT, heartbeat_timeout_ms)
        m.take_dirty()
        self._state_entered = 0.0
        self._host_beat: int | None = None  # last host heartbeat value seen; None = not armed
        self._host_beat_at = 0.0
        self._changed = asyncio.Event()
        self._tasks: set[asyncio.Task[None]] = set()
        self._handlers: list[tuple[Station, Callable[[Pack], Coroutine[Any, Any, None]]]] = [
            (Station.PRINTER, self._at_printer),
            (Station.CAMERA, self._at_camera),
            (Station.GATE, self._at_gate),
        ]
        self._started = False
        self._closed = False

    # --- life cycle -----------------------------------------------------------------------------

    async def start(self) -> int:
        """Serve Modbus (and OPC UA); return the bound Modbus port."""
        loop = asyncio.get_running_loop()
        self._state_entered = loop.time()
        t0 = loop.time()
        port = await self.modbus.start()
        self.startup_seconds["modbus"] = loop.time() - t0
        if self.opcua is not None:
            t0 = loop.time()
            try:
                await self.opcua.start()
            except BaseException:
                await self.modbus.close()
                raise
            self.startup_seconds["opcua"] = loop.time() - t0
        for station, handler in self._handlers:
            self.line.on(station, handler)
        self._spawn(self._scan(), "plc-sim scan")
        if self.drive_line:
            self._spawn(self._drive(), "plc-sim conveyor")
        self._started = True
        return port

    async def close(self) -> None:
        """Stop serving and detach from the line; safe to call twice."""
        if self._closed:
            return
        self._closed = True
        for station, handler in self._handlers:
            with contextlib.suppress(ValueError):
                self.line.handlers[station].remove(handler)
        for task in list(self._tasks):
            task.cancel()
        for task in list(self._tasks):
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await self.modbus.close()
        if self.opcua is not None:
            await self.opcua.close()

    async def __aenter__(self) -> PlcSimulator:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    @property
    def modbus_port(self) -> int:
        return self.modbus.port

    @property
    def opcua_port(self) -> int | None:
        return self.opcua.port if self.opcua is not None else None

    @property
    def opcua_url(self) -> str:
        if self.opcua is None:
            raise RuntimeError("this PLC simulator has OPC UA turned off")
        return self.opcua.url

    @property
    def state(self) -> PackMLState:
        return PackMLState(self.memory.get(sig.LINE_STATE))

    def value(self, s: sig.Signal) -> int:
        """The current value of signal ``s`` (what either server would answer)."""
        return self.memory.get(s)

    async def wait_for(self, predicate: Callable[[], bool]) -> None:
        """Wait until ``predicate()`` holds; re-checked after every change of the PLC's signals."""
        while not predicate():
            await self._changed.wait()

    async def force(self, s: sig.Signal, value: int) -> None:
        """Force a signal as from the PLC's engineering tool (fault injection, tests)."""
        self.memory.set(s, value)
        await self._publish()

    def gate_decision(self, seq: int) -> tuple[bool, int]:
        """(passes?, verdict seen) for pack ``seq``: GOOD only from a slot holding ``seq``."""
        slot = sig.verdict_slot(seq)
        if self.memory.get(slot.seq) != seq:
            return False, int(Verdict.NONE)
        verdict = self.memory.get(slot.verdict)
        return verdict == Verdict.GOOD, verdict

    def command(self, command: PackMLCommand) -> sig.CommandResult:
        """Apply a command as if given on the PLC's own HMI (standalone autostart, tests)."""
        result = self._apply(command)
        self._spawn(self._publish(), "plc-sim publish")
        return result

    # --- the line -------------------------------------------------------------------------------

    async def _at_printer(self, pack: Pack) -> None:
        m = self.memory
        m.set(sig.PRINTER_SEQ, pack.seq & _MAX32)
        m.set(sig.PACKS_IN, (m.get(sig.PACKS_IN) + 1) & _MAX32)
        await self._publish()

    async def _at_camera(self, pack: Pack) -> None:
        self.memory.set(sig.CAMERA_SEQ, pack.seq & _MAX32)
        await self._publish()

    async def _at_gate(self, pack: Pack) -> None:
        """The fail-safe: GOOD only if the slot holds this very seq and GOOD, else reject."""
        m = self.memory
        seq = pack.seq & _MAX32
        passes, pack.verdict = self.gate_decision(seq)
        if passes:
            pack.rejected = False
            outcome = GateOutcome.PASSED
            m.set(sig.PACKS_PASSED, (m.get(sig.PACKS_PASSED) + 1) & _MAX32)
        else:
            pack.rejected = True
            confirmed = not self.line.faults.gate_fails_to_confirm()
            pack.reject_confirmed = confirmed
            m.set(sig.PACKS_REJECTED, (m.get(sig.PACKS_REJECTED) + 1) & _MAX32)
            if confirmed:
                outcome = GateOutcome.REJECTED_CONFIRMED
            else:
                outcome = GateOutcome.REJECTED_UNCONFIRMED
                m.set(sig.PACKS_UNCONFIRMED, (m.get(sig.PACKS_UNCONFIRMED) + 1) & _MAX32)
                self._fault(sig.Fault.REJECT_UNCONFIRMED, f"reject of pack {seq} not confirmed")
        m.set(sig.GATE_SEQ, seq)
        index = m.get(sig.EVENT_WRITE_INDEX)
        event_slot = sig.event_slot(index)
        m.set(event_slot.seq, seq)
        m.set(event_slot.outcome, int(outcome))
        m.set(sig.EVENT_WRITE_INDEX, (index + 1) & _MAX32)  # after the slot, per the map
        self.events.append(GateEvent(seq, outcome))
        await self._publish()

    async def _drive(self) -> None:
        """Tick the line at its speed (no drift) while the line is producing."""
        loop = asyncio.get_running_loop()
        while True:
            if self.state not in PRODUCING_STATES:
                await self._changed.wait()
                continue
            start, n = loop.time(), 0
            while self.state in PRODUCING_STATES:
                await self.line.tick()
                n += 1
                await asyncio.sleep(
                    max(0.0, start + n * self.line.layout.pitch_seconds - loop.time())
                )

    # --- the PLC scan: heartbeat, watchdog, state model -----------------------------------------

    async def _scan(self) -> None:
        loop = asyncio.get_running_loop()
        m = self.memory
        while True:
            await asyncio.sleep(self.heartbeat_period)
            now = loop.time()
            m.set(sig.PLC_HEARTBEAT, (m.get(sig.PLC_HEARTBEAT) + 1) & 0xFFFF)
            stale = self._host_beat is not None and now - self._host_beat_at > self._watchdog_s()
            if stale and not m.get(sig.FAULT) & sig.Fault.HOST_HEARTBEAT_LOST:
                silent = now - self._host_beat_at
                self._fault(sig.Fault.HOST_HEARTBEAT_LOST, f"host heartbeat silent {silent:.2f} s")
            state = self.state
            done = STATE_COMPLETE.get(state)
            if done is not None and now - self._state_entered >= self.acting_time:
                self._set_state(done)
            elif state is PackMLState.EXECUTE and self._batch_done():
                self._set_state(PackMLState.COMPLETING)
            await self._publish()

    def _watchdog_s(self) -> float:
        ms = self.memory.get(sig.HEARTBEAT_TIMEOUT) or sig.DEFAULT_HEARTBEAT_TIMEOUT_MS
        return max(ms, sig.MIN_HEARTBEAT_TIMEOUT_MS) / 1000

    def _batch_done(self) -> bool:
        limit = self.line.packs_limit
        return (
            self.drive_line
            and limit is not None
            and self.line.next_seq > limit
            and not self.line.on_conveyor
        )

    def _fault(self, bit: sig.Fault, why: str) -> None:
        """Latch a fault bit and hold the line (where PackML allows a Hold)."""
        m = self.memory
        m.set(sig.FAULT, m.get(sig.FAULT) | bit)
        log.warning("PLC simulator: fault %s: %s; holding the line", bit.name, why)
        target = next_state(self.state, PackMLCommand.HOLD)
        if target is not None:
            self._set_state(target)

    def _set_state(self, state: PackMLState) -> None:
        self.memory.set(sig.LINE_STATE, int(state))
        self.state_history.append(state)
        self._state_entered = asyncio.get_running_loop().time()

    # --- host writes ----------------------------------------------------------------------------

    async def _host_wrote(self, touched: list[sig.Signal]) -> None:
        """React to one host request (heartbeat, command handshake), then publish."""
        m = self.memory
        if sig.HOST_HEARTBEAT in touched:
            beat = m.get(sig.HOST_HEARTBEAT)
            if beat != self._host_beat:
                self._host_beat = beat
                self._host_beat_at = asyncio.get_running_loop().time()
        if sig.COMMAND_COUNTER in touched:
            counter = m.get(sig.COMMAND_COUNTER)
            if counter != m.get(sig.COMMAND_ACK):
                try:
                    result = self._apply(PackMLCommand(m.get(sig.LINE_COMMAND)))
                except ValueError:
                    result = sig.CommandResult.UNKNOWN_COMMAND
                m.set(sig.COMMAND_RESULT, int(result))
                m.set(sig.COMMAND_ACK, counter)
        await self._publish()

    def _apply(self, command: PackMLCommand) -> sig.CommandResult:
        target = next_state(self.state, command)
        if target is None:
            log.info("PLC simulator: %s not allowed in %s", command.name, self.state.name)
            return sig.CommandResult.NOT_ALLOWED_IN_STATE
        if command in _ACKNOWLEDGING:
            self.memory.set(sig.FAULT, 0)
        self._set_state(target)
        return sig.CommandResult.ACCEPTED

    async def _publish(self) -> None:
        changed = self.memory.take_dirty()
        if changed and self.opcua is not None:
            await self.opcua.publish(changed)
        self._changed.set()
        self._changed = asyncio.Event()

    def _spawn(self, coro: Coroutine[Any, Any, None], name: str) -> None:
        task = asyncio.create_task(coro, name=name)
        self._tasks.add(task)
        task.add_done_callback(self._task_done)

    def _task_done(self, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("PLC simulator: task %s failed", task.get_name(), exc_info=task.exception())


# --- standalone --------------------------------------------------------------------------------


def add_arguments(p: argparse.ArgumentParser) -> None:
    """Options of the standalone PLC simulator."""
    p.add_argument("--host", default="127.0.0.1", help="address to listen on")
    p.add_argument("--modbus-port", type=int, default=5020, help="Modbus TCP port (0 = any)")
    p.add_argument("--opcua-port", type=int, default=4840, help="OPC UA port (0 = any)")
    p.add_argument("--no-opcua", action="store_true", help="serve Modbus only (starts faster)")
    p.add_argument("--speed", type=float, default=600.0, help="line speed, packs per minute")
    p.add_argument("--seed", type=int, default=0, help="seed of the fault draws")
    p.add_argument(
        "--gate-confirm-failure-rate",
        type=float,
        default=0.0,
        help="probability that the gate's sensor fails to confirm a reject",
    )
    p.add_argument("--heartbeat-timeout-ms", type=int, default=sig.DEFAULT_HEARTBEAT_TIMEOUT_MS)
    p.add_argument("--packs", type=int, default=None, help="stop feeding after this many packs")
    p.add_argument(
        "--autostart", action="store_true", help="Reset and Start at once, without a host"
    )
    add_security_arguments(p)  # --opcua-cert, --opcua-key, --opcua-trusted, --opcua-user ...


async def serve(args: argparse.Namespace) -> None:
    """Run a PLC simulator with its own VirtualLine until cancelled."""
    layout = LineLayout(packs_per_minute=args.speed)
    faults = FaultPlan(seed=args.seed, gate_confirm_failure_rate=args.gate_confirm_failure_rate)
    line = VirtualLine(layout, faults)
    line.packs_limit = args.packs
    sim = PlcSimulator(
        line,
        args.host,
        args.modbus_port,
        opcua_port=None if args.no_opcua else args.opcua_port,
        drive_line=True,
        heartbeat_timeout_ms=args.heartbeat_timeout_ms,
        opcua_security=security_from_args(args),
    )
    async with sim:
        opcua = sim.opcua_url if sim.opcua is not None else "off"
        took = ", ".join(f"{k} {v:.2f} s" for k, v in sim.startup_seconds.items())
        print(
            f"PLC simulator listening: modbus={args.host}:{sim.modbus_port} opcua={opcua} "
            f"(started: {took})",
            flush=True,
        )
        if args.autostart:
            sim.command(PackMLCommand.RESET)
            await sim.wait_for(lambda: sim.state is PackMLState.IDLE)
            sim.command(PackMLCommand.START)
        await asyncio.Event().wait()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m simulators.plc", description=(__doc__ or "").splitlines()[0]
    )
    add_arguments(parser)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(levelname)s %(message)s")

    async def run() -> None:
        task = asyncio.current_task()
        assert task is not None
        asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, task.cancel)
        with contextlib.suppress(asyncio.CancelledError):
            await serve(args)

    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(run())
    sys.exit(0)


if __name__ == "__main__":
    main()
