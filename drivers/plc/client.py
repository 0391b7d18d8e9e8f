"""The PLC driver template: the signal-map logic once, over a transport that only moves values.

``PlcClient`` implements ``drivers.interfaces.Plc``: verdict slot writes, the gate event follower,
the command handshake, the map version check, the link life cycle and the reconnect policy. A
transport (Modbus TCP, OPC UA) implements ``_open``, ``_drop``, ``_read`` and ``_write`` and turns
its library's errors into DeviceUnavailable (link trouble) or DeviceError/ProtocolError.
"""

from __future__ import annotations

import abc
import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Sequence
from typing import ClassVar, TypeVar

from drivers.interfaces import (
    DeviceError,
    DeviceUnavailable,
    GateEvent,
    GateOutcome,
    PlcSnapshot,
    Verdict,
)
from drivers.plc import signals as sig
from drivers.reconnect import LinkState, ReconnectPolicy
from standards.packml import PackMLCommand, PackMLState

T = TypeVar("T")
log = logging.getLogger("linectl.devices")

_OUTCOMES = {int(o): o for o in GateOutcome}
_IN_EVENT_BLOCK = {s: i for i, s in enumerate(sig.EVENT_BLOCK)}  # signal -> place in its values


class PlcClient(abc.ABC):
    """Base of ModbusPlc and OpcUaPlc; one request in flight at a time."""

    #: True when reading the whole event ring costs about one round trip (Modbus); otherwise the
    #: follower reads the write index first and then only the new slots (OPC UA).
    bulk_reads_are_cheap: ClassVar[bool] = True

    def __init__(
        self,
        name: str,
        *,
        timeout: float = 1.0,
        policy: ReconnectPolicy | None = None,
        clock: Callable[[], float] | None = None,
        command_timeout: float = 2.0,
        command_poll: float = 0.01,
    ) -> None:
        if timeout <= 0 or command_timeout <= 0 or command_poll <= 0:
            raise ValueError(f"{name}: timeouts and the command poll period must be > 0")
        self.name = name
        self.timeout = timeout
        self.command_timeout = command_timeout
        self.command_poll = command_poll
        self.policy = policy or ReconnectPolicy(name)
        self.state = LinkState.DISCONNECTED
        self.events_lost = 0  # gate events overwritten before this driver read them
        self._cause = ""  # why the last connect failed or the link was lost
        self._clock = clock
        self._retry_at = 0.0
        self._lock = asyncio.Lock()
        self._command_lock = asyncio.Lock()
        self._event_index: int | None = None

    # --- transport hooks ------------------------------------------------------------------------

    @property
    def link_state(self) -> LinkState:
        """Where the link to the device is (connected, reconnecting, closed)."""
        return self.state

    @abc.abstractmethod
    async def _open(self) -> None:
        """Connect (the caller bounds it with ``timeout``); raise DeviceError on failure."""

    @abc.abstractmethod
    async def _drop(self) -> None:
        """Forget the connection quietly; never raises; safe when not connected."""

    @abc.abstractmethod
    async def _read(self, signals: Sequence[sig.Signal]) -> list[int]:
        """Read ``signals`` in one request."""

    @abc.abstractmethod
    async def _write(self, signals: Sequence[sig.Signal], values: Sequence[int]) -> None:
        """Write host ``signals`` in one request, applied in the given order."""

    # --- Plc protocol ---------------------------------------------------------------------------

    async def connect(self) -> None:
        """Connect now (ignoring the backoff) and check the PLC's signal map version."""
        self._check_open()
        async with self._lock:
            if self.state is not LinkState.CONNECTED:
                await self._connect_now()

    async def write_verdict(self, seq: int, verdict: Verdict, reason: int = 0) -> None:
        """Write pack ``seq``'s slot in one request: Verdict, Reason, then Seq (fail-safe order)."""
        slot = sig.verdict_slot(seq)
        values = (int(verdict), reason, seq)
        sig.encode_values(slot.signals, values)  # bad input fails here, before any I/O
        await self._call(lambda: self._write(slot.signals, values))

    async def read_snapshot(self) -> PlcSnapshot:
        """The PLC's status block in one request."""
        v = dict(zip(sig.SNAPSHOT, await self._call(lambda: self._read(sig.SNAPSHOT)), strict=True))
        return PlcSnapshot(
            heartbeat=v[sig.PLC_HEARTBEAT],
            line_state=v[sig.LINE_STATE],
            last_seq_printer=v[sig.PRINTER_SEQ],
            last_seq_camera=v[sig.CAMERA_SEQ],
            last_seq_gate=v[sig.GATE_SEQ],
            packs_in=v[sig.PACKS_IN],
            packs_passed=v[sig.PACKS_PASSED],
            packs_rejected=v[sig.PACKS_REJECTED],
            fault=v[sig.FAULT],
        )

    async def gate_events(self) -> list[GateEvent]:
        """Gate events since the last call, oldest first.

        The first call of a driver returns what the ring still holds (up to EVENT_SLOTS events),
        so a restarted host sees outcomes it may have missed; callers de-duplicate by seq. Events
        overwritten before they were read are counted in ``events_lost`` and logged.
        """
        return await self._call(self._follow_events)

    async def write_heartbeat(self, value: int) -> None:
        """Write the host heartbeat (taken modulo 65536, so a counter may simply keep counting)."""
        await self._call(lambda: self._write((sig.HOST_HEARTBEAT,), (value & 0xFFFF,)))

    async def command(self, packml_command: int) -> None:
        """Send a PackML command and wait for the PLC's acknowledgement.

        Raises DeviceError if the PLC refuses it (not allowed in the current state) or does not
        acknowledge within ``command_timeout``. Acceptance means the state model took the
        transition; the line reaches the target state later (watch ``line_state``).
        """
        try:
            cmd = PackMLCommand(packml_command)
        except ValueError:
            raise ValueError(f"{self.name}: {packml_command} is not a PackML command 1-9") from None
        async with self._command_lock:
            (current,) = await self._call(lambda: self._read((sig.COMMAND_COUNTER,)))
            counter = current % 0xFFFF + 1  # 1..65535: 0 stays "no command since power-up"
            pair = (sig.LINE_COMMAND, sig.COMMAND_COUNTER)
            await self._call(lambda: self._write(pair, (int(cmd), counter)))
            deadline = self._now() + self.command_timeout
            watch = (sig.COMMAND_ACK, sig.COMMAND_RESULT)
            while True:
                ack, result = await self._call(lambda: self._read(watch))
                if ack == counter:
                    break
                if self._now() >= deadline:
                    raise DeviceError(
                        f"{self.name}: PLC did not acknowledge {cmd.name} ({int(cmd)}) "
                        f"within {self.command_timeout} s"
                    )
                await asyncio.sleep(self.command_poll)
            if result == sig.CommandResult.ACCEPTED:
                return
            (state,) = await self._call(lambda: self._read((sig.LINE_STATE,)))
        raise DeviceError(
            f"{self.name}: PLC refused {cmd.name} ({int(cmd)}): "
            f"{_enum_name(sig.CommandResult, result)} in state {_enum_name(PackMLState, state)}"
        )

    async def read(self, signals: Sequence[sig.Signal]) -> list[int]:
        """Read any signals of the map in one request (diagnostics, counters not in PlcSnapshot)."""
        return await self._call(lambda: self._read(signals))

    async def write(self, signals: Sequence[sig.Signal], values: Sequence[int]) -> None:
        """Write host signals in one request (e.g. ``Host.HeartbeatTimeoutMs``)."""
        sig.encode_values(signals, values)
        await self._call(lambda: self._write(signals, values))

    async def close(self) -> None:
        """Close the link; safe to call twice; later requests raise DeviceUnavailable."""
        if self.state is LinkState.CLOSED:
            return
        self.state = LinkState.CLOSED
        await self._drop()

    async def __aenter__(self) -> PlcClient:
        await self.connect()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    # --- internals ------------------------------------------------------------------------------

    def _now(self) -> float:
        return self._clock() if self._clock is not None else asyncio.get_running_loop().time()

    def _check_open(self) -> None:
        if self.state is LinkState.CLOSED:
            raise DeviceUnavailable(f"{self.name}: closed")

    async def _call(self, op: Callable[[], Awaitable[T]]) -> T:
        """Run one request: reconnect first if due, map a lost link to DeviceUnavailable."""
        self._check_open()
        async with self._lock:
            self._check_open()
            if self.state is not LinkState.CONNECTED:
                wait = self._retry_at - self._now()
                if wait > 0:
                    cause = f" ({self._cause})" if self._cause else ""
                    raise DeviceUnavailable(
                        f"{self.name}: not connected{cause}; next attempt in {wait:.2f} s"
                    )
                await self._connect_now()
            try:
                async with asyncio.timeout(self.timeout):
                    return await op()
            except TimeoutError as e:
                error = DeviceUnavailable(f"{self.name}: no reply within {self.timeout} s")
                await self._lost(error)
                raise error from e
            except DeviceUnavailable as e:
                await self._lost(e)
                raise

    async def _connect_now(self) -> None:
        self.state = LinkState.CONNECTING
        try:
            try:
                async with asyncio.timeout(self.timeout):
                    await self._open()
                    await self._check_map()
            except TimeoutError as e:
                raise DeviceUnavailable(f"{self.name}: connect timed out ({self.timeout} s)") from e
        except DeviceError as e:
            await self._drop()
            if self.state is not LinkState.CLOSED:
                self.state = LinkState.DISCONNECTED
            fatal = not isinstance(e, DeviceUnavailable)
            self._retry_at = self._now() + self.policy.on_failure(e, fatal=fatal)
            self._cause = str(e)
            raise
        if self.state is LinkState.CLOSED:  # closed while connecting
            await self._drop()
            raise DeviceUnavailable(f"{self.name}: closed")
        self.state = LinkState.CONNECTED
        self._cause = ""
        self.policy.on_success()

    async def _lost(self, error: DeviceUnavailable) -> None:
        if self.state is LinkState.CLOSED:
            return
        self.state = LinkState.DISCONNECTED
        await self._drop()
        self._retry_at = self._now() + self.policy.on_failure(error)
        self._cause = str(error)

    async def _check_map(self) -> None:
        expected = [sig.MAP_VERSION, sig.VERDICT_SLOTS, sig.EVENT_SLOTS]
        info = (sig.MAP_VERSION_SIGNAL, sig.VERDICT_SLOTS_SIGNAL, sig.EVENT_SLOTS_SIGNAL)
        got = await self._read(info)
        if got != expected:
            raise DeviceError(
                f"{self.name}: PLC signal map is version {got[0]} with {got[1]} verdict and "
                f"{got[2]} event slots; linectl needs version {expected[0]} with "
                f"{expected[1]} and {expected[2]}"
            )

    async def _follow_events(self) -> list[GateEvent]:
        block: list[int] | None = None
        if self.bulk_reads_are_cheap:
            block = await self._read(sig.EVENT_BLOCK)
            index = block[0]
        else:
            (index,) = await self._read((sig.EVENT_WRITE_INDEX,))
        last = self._event_index
        if last is None:
            last = max(0, index - sig.EVENT_SLOTS)
        elif index < last:
            log.warning(
                "%s: gate event index went back from %d to %d (PLC restarted?); reading anew",
                self.name,
                last,
                index,
            )
            last = max(0, index - sig.EVENT_SLOTS)
        if index - last > sig.EVENT_SLOTS:
            lost = index - last - sig.EVENT_SLOTS
            self.events_lost += lost
            log.error("%s: %d gate events were overwritten before they were read", self.name, lost)
            last = index - sig.EVENT_SLOTS
        wanted = [sig.event_slot(i) for i in range(last, index)]
        flat = [s for slot in wanted for s in (slot.seq, slot.outcome)]
        if block is not None:  # only the new slots' values (a dict of the whole ring cost 8 us)
            by_signal = {s: block[_IN_EVENT_BLOCK[s]] for s in flat}
        else:
            by_signal = dict(zip(flat, await self._read(flat) if flat else [], strict=True))
        events: list[GateEvent] = []
        for i, slot in zip(range(last, index), wanted, strict=True):
            outcome = _OUTCOMES.get(by_signal[slot.outcome])
            if outcome is None:
                self.events_lost += 1
                log.error(
                    "%s: gate event %d (%s) has outcome %d, not a GateOutcome; skipped",
                    self.name,
                    i,
                    slot.outcome.name,
                    by_signal[slot.outcome],
                )
                continue
            events.append(GateEvent(by_signal[slot.seq], outcome))
        self._event_index = index
        return events


def _enum_name(kind: type[PackMLState] | type[sig.CommandResult], value: int) -> str:
    with contextlib.suppress(ValueError):
        return f"{kind(value).name} ({value})"
    return f"unknown ({value})"
