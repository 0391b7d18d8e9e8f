"""The line PLC over Modbus TCP (pymodbus AsyncModbusTcpClient), per drivers.plc.signals.

pymodbus does the framing (MBAP, transaction ids); this module maps signals to FC 03/04 reads
and FC 16 writes, and turns pymodbus's errors into the device error types. pymodbus's own
reconnect is switched off (``reconnect_delay=0``) so the ReconnectPolicy alone decides; a dropped
socket fails the request in flight at once instead of after the reply timeout. pymodbus's own
reply timeout is off too: ``PlcClient._call`` bounds every request (one timer, not two).
"""

from __future__ import annotations

import asyncio
import logging
import struct
from collections.abc import Awaitable, Callable, Sequence

from pymodbus.client import AsyncModbusTcpClient
from pymodbus.exceptions import ModbusException, ModbusIOException
from pymodbus.pdu import ModbusPDU
from pymodbus.pdu.register_message import (
    ReadHoldingRegistersResponse,
    ReadInputRegistersResponse,
    WriteMultipleRegistersResponse,
)

from drivers.interfaces import DeviceError, DeviceUnavailable, ProtocolError
from drivers.plc import signals as sig
from drivers.plc.client import PlcClient
from drivers.reconnect import ReconnectPolicy

_EXCEPTION_CODES = {
    1: "illegal function",
    2: "illegal data address",
    3: "illegal data value",
    4: "server device failure",
    6: "server device busy",
    10: "gateway path unavailable",
    11: "gateway target failed to respond",
}
_PYMODBUS_LOG = logging.getLogger("pymodbus.logging")


def _pdu_str(pdu: ModbusPDU) -> str:
    """pymodbus's text of a PDU when its debug log is on, else only the PDU's kind and ids.

    pymodbus's decoder formats ``str(pdu)`` for a debug log line with every reply, whether
    that log is on or not: 9 us for the 122 registers of the gate ring.
    """
    if _PYMODBUS_LOG.isEnabledFor(logging.DEBUG):
        return ModbusPDU.__str__(pdu)
    return f"{type(pdu).__name__}(dev_id={pdu.dev_id}, transaction_id={pdu.transaction_id})"


class _HoldingRegisters(ReadHoldingRegistersResponse):
    """FC 03 reply: pymodbus's decoding in one ``struct`` call (it unpacks word by word), and
    the register bytes kept (``raw``) so that a read decodes its values in one call too."""

    raw = b""

    def decode(self, data: bytes) -> None:
        if (size := data[0]) >= len(data):
            raise ModbusIOException(
                f"byte_count {size} > length of packet {len(data)}",
                function_code=self.function_code,
            )
        self.raw = data[1 : 1 + size]
        self.registers = list(struct.unpack_from(f">{size // 2}H", data, 1))

    __str__ = _pdu_str


class _InputRegisters(_HoldingRegisters):
    """FC 04 reply, decoded as FC 03's."""

    function_code = ReadInputRegistersResponse.function_code


class _WriteRegisters(WriteMultipleRegistersResponse):
    """FC 16 reply (only its text differs from pymodbus's)."""

    __str__ = _pdu_str


#: Replaces pymodbus's reply classes in each client's decoder (``client.register``).
_REPLIES: tuple[type[ModbusPDU], ...] = (_HoldingRegisters, _InputRegisters, _WriteRegisters)

#: The ``struct`` layout of the values of the map's blocks (SNAPSHOT, EVENT_BLOCK, ...) in a
#: reply's bytes, by identity of the tuple (kept in the entry, so its id stays its own).
_LAYOUTS: dict[int, tuple[Sequence[sig.Signal], struct.Struct]] = {}


def _layout(signals: Sequence[sig.Signal]) -> struct.Struct:
    """Big-endian U16 ``H`` and U32 ``I`` (high word first, as the map says) per signal."""
    cached = _LAYOUTS.get(id(signals))
    if cached is not None and cached[0] is signals:
        return cached[1]
    layout = struct.Struct(">" + "".join("H" if s.kind is sig.Kind.U16 else "I" for s in signals))
    if isinstance(signals, tuple) and len(signals) > 3:  # the map's blocks, not a fresh pair
        if len(_LAYOUTS) >= 64:
            _LAYOUTS.clear()
        _LAYOUTS[id(signals)] = (signals, layout)
    return layout


class ModbusPlc(PlcClient):
    """Plc driver for a Modbus TCP server that follows the linectl signal map."""

    bulk_reads_are_cheap = True

    def __init__(
        self,
        host: str,
        port: int = 502,
        *,
        device_id: int = 1,
        timeout: float = 1.0,
        policy: ReconnectPolicy | None = None,
        clock: Callable[[], float] | None = None,
        name: str | None = None,
        command_timeout: float = 2.0,
    ) -> None:
        name = name or f"plc modbus {host}:{port}"
        super().__init__(
            name, timeout=timeout, policy=policy, clock=clock, command_timeout=command_timeout
        )
        if not 0 <= device_id <= 255:
            raise ValueError(f"{name}: device_id must be 0-255, got {device_id}")
        self.host = host
        self.port = port
        self.device_id = device_id
        self._client: AsyncModbusTcpClient | None = None
        self._inflight: asyncio.Task[object] | None = None  # the caller awaiting a reply
        self._link_cancel = False  # the link dropped and cancelled ``_inflight``

    async def _open(self) -> None:
        await self._drop()
        client = AsyncModbusTcpClient(
            self.host,
            port=self.port,
            name=self.name,
            reconnect_delay=0,  # no background reconnect: the policy decides
            # no reply timeout of its own (an asyncio.wait_for per request, with its timer and
            # an extra loop pass): _call's asyncio.timeout bounds the request, _connect_now's
            # the connect
            timeout=None,  # type: ignore[arg-type]
            retries=0,
            trace_connect=self._connection_changed,
        )
        for reply in _REPLIES:
            client.register(reply)
        self._client = client
        if not await client.connect():
            raise DeviceUnavailable(f"{self.name}: cannot connect to {self.host}:{self.port}")

    async def _drop(self) -> None:
        client, self._client = self._client, None
        if client is not None:
            client.close()
        self._cancel_inflight()

    async def _read(self, signals: Sequence[sig.Signal]) -> list[int]:
        area, address, count = sig.span(signals)
        if count > sig.MAX_MODBUS_READ:
            raise ValueError(f"{signals[0].name}..: {count} registers is more than one read")
        client = self._connected()
        if area is sig.Area.INPUT:
            reply = await self._execute(
                lambda: client.read_input_registers(address, count=count, device_id=self.device_id)
            )
        else:
            reply = await self._execute(
                lambda: client.read_holding_registers(
                    address, count=count, device_id=self.device_id
                )
            )
        if len(reply.registers) != count:
            raise ProtocolError(
                f"{self.name}: asked for {count} registers at {area.value} {address}, "
                f"got {len(reply.registers)}"
            )
        if isinstance(reply, _HoldingRegisters):
            return list(_layout(signals).unpack_from(reply.raw))
        return sig.decode_values(signals, list(reply.registers))

    async def _write(self, signals: Sequence[sig.Signal], values: Sequence[int]) -> None:
        area, address, _ = sig.span(signals)
        if area is not sig.Area.HOLDING:
            raise ValueError(f"{signals[0].name} is written by the PLC, not the host")
        registers = sig.encode_values(signals, values)
        client = self._connected()
        await self._execute(
            lambda: client.write_registers(address, registers, device_id=self.device_id)
        )

    def _connected(self) -> AsyncModbusTcpClient:
        if self._client is None or not self._client.connected:
            raise DeviceUnavailable(f"{self.name}: connection lost")
        return self._client

    async def _execute(self, request: Callable[[], Awaitable[ModbusPDU]]) -> ModbusPDU:
        """Run one pymodbus request in the caller's task; a dropped connection fails it at once.

        No task per request: a dropped link cancels the caller's task, and that cancel (marked
        in ``_link_cancel`` and taken back with ``uncancel``) becomes DeviceUnavailable here.
        pymodbus awaits the reply with ``asyncio.wait_for``, which in Python 3.11 swallows a
        cancellation that arrives together with the reply: the request returns normally and
        the caller's cancel would be lost (a task that never ends on shutdown). With pymodbus's
        timeout off, its wait_for is a plain await today, but that is pymodbus's to change: the
        caller's pending cancellations are counted on entry, and a new one raises CancelledError.
        """
        current = asyncio.current_task()
        cancels_before = current.cancelling() if current is not None else 0
        self._inflight, self._link_cancel = current, False
        try:
            try:
                reply = await request()
            finally:
                self._inflight = None
                if self._link_cancel and current is not None:
                    current.uncancel()  # the link's cancel, taken back (a reply with it stands)
        except asyncio.CancelledError:
            if self._link_cancel and (current is None or current.cancelling() <= cancels_before):
                raise DeviceUnavailable(f"{self.name}: connection lost during request") from None
            raise
        except ModbusException as e:
            raise DeviceUnavailable(f"{self.name}: {e}") from e
        except OSError as e:
            raise DeviceUnavailable(f"{self.name}: {e}") from e
        if current is not None and current.cancelling() > cancels_before:
            raise asyncio.CancelledError  # cancelled while the reply came in: honour it
        if reply.isError():
            code = getattr(reply, "exception_code", 0)
            meaning = _EXCEPTION_CODES.get(code, "unknown exception code")
            raise DeviceError(
                f"{self.name}: PLC answered function {reply.function_code & 0x7F} with "
                f"exception {code} ({meaning})"
            )
        return reply

    def _cancel_inflight(self) -> None:
        """Fail the request in flight (its caller gets DeviceUnavailable), if there is one."""
        task = self._inflight
        if task is not None and not task.done() and not self._link_cancel:
            self._link_cancel = True
            task.cancel()

    def _connection_changed(self, connected: bool) -> None:
        """pymodbus trace hook: fail the request in flight at once when the socket drops."""
        if not connected:
            self._cancel_inflight()
