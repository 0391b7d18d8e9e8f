"""Byte links to devices (TCP, serial), a reconnecting one-request-at-a-time device session, and
what every driver built on it shares (:class:`DeviceClient`, :class:`Exchange`).

``TcpLink`` uses an asyncio protocol so stale input can be dropped without touching private
buffers. ``SerialLink`` runs pyserial on one dedicated thread (open, read, write, flush, close),
so no serial call ever blocks the event loop. ``DeviceLink`` owns the connection life cycle:
connect with a timeout, ReconnectPolicy backoff between failed attempts, stale input flushed
before each request, and every I/O failure or reply timeout turned into DeviceUnavailable with
the link dropped, so the next request starts on a fresh connection. A session counts as a
success once a request got through: one the device closes before it said anything (it accepts
and closes at once) is a failed attempt and backs off like a refused connect. (A device that does
not answer costs each request its reply timeout, so it cannot make a reconnect storm.)
:class:`DeviceClient` is the base of the readers' :class:`drivers.reader_link.ReaderLink` and
the printers' :class:`drivers.printer_link.PrinterLink`: a named DeviceLink, its state, connect,
wait and close; an :class:`Exchange` drives a driver's sans-IO host codec over the link for one
request.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Generic, Protocol, TypeVar

import serial

from drivers.interfaces import DeviceUnavailable, ProtocolError
from drivers.reconnect import LinkState, ReconnectPolicy
from drivers.sansio import NEED_DATA, NeedData

E = TypeVar("E")
T = TypeVar("T")
E_co = TypeVar("E_co", covariant=True)

log = logging.getLogger("linectl.devices")

try:  # pyserial lets termios.error (not an OSError) escape from tcflush on a vanished port
    from termios import error as _TermiosError
except ImportError:  # pragma: no cover - not POSIX
    _TermiosError = OSError  # type: ignore[misc, assignment]

_SERIAL_ERRORS = (serial.SerialException, OSError, _TermiosError)


class Link(Protocol):
    """A bidirectional byte stream to one device."""

    description: str

    @property
    def heard(self) -> bool:
        """Whether the device has sent anything on this connection."""
        ...

    async def open(self) -> None: ...
    async def write(self, data: bytes) -> None: ...
    async def read(self) -> bytes: ...  # waits for bytes; ConnectionError on EOF
    async def discard_input(self) -> None: ...
    async def close(self) -> None: ...


class _Receiver(asyncio.Protocol):
    def __init__(self) -> None:
        self.buffer = bytearray()
        self.arrived = asyncio.Event()
        self.lost = False
        self.heard = False
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        self.heard = True
        self.arrived.set()

    def eof_received(self) -> bool:
        self.lost = True
        self.arrived.set()
        return False

    def connection_lost(self, exc: Exception | None) -> None:
        self.lost = True
        self.arrived.set()


class TcpLink:
    """A TCP connection (raw socket printers: ZPL 9100, WSI 3100)."""

    def __init__(self, host: str, port: int) -> None:
        self.host, self.port = host, port
        self.description = f"tcp://{host}:{port}"
        self._rx: _Receiver | None = None

    async def open(self) -> None:
        loop = asyncio.get_running_loop()
        _, rx = await loop.create_connection(_Receiver, self.host, self.port)
        self._rx = rx

    @property
    def heard(self) -> bool:
        return self._rx is not None and self._rx.heard

    def _receiver(self) -> _Receiver:
        if self._rx is None or self._rx.transport is None:
            raise ConnectionError(f"{self.description}: not open")
        return self._rx

    async def write(self, data: bytes) -> None:
        rx = self._receiver()
        if rx.lost or rx.transport is None or rx.transport.is_closing():
            raise ConnectionError(f"{self.description}: connection lost")
        rx.transport.write(data)

    async def read(self) -> bytes:
        rx = self._receiver()
        while not rx.buffer:
            if rx.lost:
                raise ConnectionError(f"{self.description}: connection closed by the device")
            rx.arrived.clear()
            await rx.arrived.wait()
        data = bytes(rx.buffer)
        rx.buffer.clear()
        return data

    async def discard_input(self) -> None:
        if self._rx is not None:
            self._rx.buffer.clear()

    async def close(self) -> None:
        rx, self._rx = self._rx, None
        if rx is not None and rx.transport is not None:
            rx.transport.close()


class SerialLink:
    """An RS-232 port driven by pyserial on its own thread (8N1 9600 unless told otherwise)."""

    POLL = 0.05  # seconds one blocking read may take, so close() is never kept waiting long

    def __init__(self, port: str, baudrate: int = 9600, **settings: Any) -> None:
        self.port, self.baudrate, self.settings = port, baudrate, settings
        self.description = f"serial://{port}@{baudrate}"
        self._serial: serial.Serial | None = None
        self._thread: ThreadPoolExecutor | None = None
        self.heard = False

    async def _call(self, fn: Callable[[], Any]) -> Any:
        if self._thread is None:
            raise ConnectionError(f"{self.description}: not open")
        try:
            return await asyncio.get_running_loop().run_in_executor(self._thread, fn)
        except _SERIAL_ERRORS as exc:
            raise ConnectionError(f"{self.description}: {exc}") from exc

    async def open(self) -> None:
        self._thread = ThreadPoolExecutor(1, thread_name_prefix=f"serial-{self.port}")

        def _open() -> serial.Serial:
            return serial.Serial(
                self.port, self.baudrate, timeout=self.POLL, write_timeout=2.0, **self.settings
            )

        try:
            self._serial = await self._call(_open)
        except BaseException:
            self._thread.shutdown(wait=False)
            self._thread = None
            raise

    def _port(self) -> serial.Serial:
        if self._serial is None:
            raise ConnectionError(f"{self.description}: not open")
        return self._serial

    async def write(self, data: bytes) -> None:
        port = self._port()
        await self._call(lambda: (port.write(data), port.flush()))

    async def read(self) -> bytes:
        port = self._port()
        while True:
            chunk: bytes = await self._call(lambda: port.read(max(1, port.in_waiting)))
            if chunk:
                self.heard = True
                return chunk

    async def discard_input(self) -> None:
        port = self._port()
        await self._call(port.reset_input_buffer)

    async def close(self) -> None:
        port, self._serial = self._serial, None
        thread, self._thread = self._thread, None
        if thread is None:
            return
        if port is not None:
            with contextlib.suppress(Exception):
                await asyncio.get_running_loop().run_in_executor(thread, port.close)
        thread.shutdown(wait=False)


class DeviceLink:
    """A device connection with reconnect policy; ``exchange()`` runs one request at a time."""

    def __init__(
        self,
        name: str,
        make_link: Callable[[], Link],
        policy: ReconnectPolicy | None = None,
        connect_timeout: float = 3.0,
    ) -> None:
        self.name = name
        self.policy = policy or ReconnectPolicy(name)
        self.connect_timeout = connect_timeout
        self.state = LinkState.DISCONNECTED
        self._make_link = make_link
        self._link: Link | None = None
        self._lock = asyncio.Lock()
        self._retry_at = 0.0
        self._connected = asyncio.Event()
        self._proven = False  # a request got through on the current connection

    @property
    def link_state(self) -> LinkState:
        """Where the link to the device is (connected, reconnecting, closed)."""
        return self.state

    @property
    def connected(self) -> bool:
        return self.state is LinkState.CONNECTED

    async def _attempt(self) -> Link:
        """One connection attempt now; on failure schedule the next one per the policy."""
        if self.state is LinkState.CLOSED:
            raise DeviceUnavailable(f"{self.name}: closed")
        self.state = LinkState.CONNECTING
        link = self._make_link()
        try:
            async with asyncio.timeout(self.connect_timeout):
                await link.open()
        except (OSError, TimeoutError, ConnectionError) as exc:
            await link.close()
            self.state = LinkState.DISCONNECTED
            delay = self.policy.on_failure(exc)
            self._retry_at = asyncio.get_running_loop().time() + delay
            raise DeviceUnavailable(
                f"{self.name}: cannot connect to {link.description}: {exc or type(exc).__name__}"
            ) from exc
        self._link = link
        self.state = LinkState.CONNECTED
        self._connected.set()
        self._proven = False  # the policy hears of success once a request gets through
        return link

    async def connect(self) -> None:
        """Connect now (ignoring any backoff); DeviceUnavailable if the device cannot be reached."""
        async with self._lock:
            if self._link is None:
                await self._attempt()

    async def wait_connected(self) -> None:
        """Keep trying, pausing as the policy says, until connected (or closed)."""
        loop = asyncio.get_running_loop()
        while self.state is not LinkState.CLOSED:
            async with self._lock:
                if self._link is not None:
                    return
                if loop.time() >= self._retry_at:
                    with contextlib.suppress(DeviceUnavailable):
                        await self._attempt()
                        return
                wait = max(0.0, self._retry_at - loop.time())
            await asyncio.sleep(wait)
        raise DeviceUnavailable(f"{self.name}: closed")

    async def _drop(self, reason: str, *, closed: bool = False) -> None:
        """Forget the connection; ``closed``: the device ended it (or the link broke)."""
        link, self._link = self._link, None
        silent = link is not None and not self._proven and not link.heard
        if link is not None and self._proven:
            log.warning("%s: link dropped: %s", self.name, reason)
        if link is not None:
            await link.close()
        self._connected.clear()
        if self.state is LinkState.CLOSED:
            return
        self.state = LinkState.DISCONNECTED
        if not (closed and silent):
            self._retry_at = 0.0  # a drop is not a failed attempt: reconnect at the next request
        else:  # closed before the device said anything: a failed attempt (the policy logs once)
            delay = self.policy.on_failure(ConnectionError(f"dropped before any reply: {reason}"))
            self._retry_at = asyncio.get_running_loop().time() + delay

    @contextlib.asynccontextmanager
    async def exchange(self) -> AsyncIterator[Link]:
        """Hold the link for one request: connected, stale input gone, failures mapped."""
        async with self._lock:
            link = self._link
            if link is None:
                remaining = self._retry_at - asyncio.get_running_loop().time()
                if self.state is LinkState.CLOSED:
                    raise DeviceUnavailable(f"{self.name}: closed")
                if remaining > 0:
                    raise DeviceUnavailable(
                        f"{self.name}: not connected; next attempt in {remaining:.2f} s"
                    )
                link = await self._attempt()
            try:
                await link.discard_input()
                yield link
                if not self._proven:
                    self._proven = True
                    self.policy.on_success()
            except TimeoutError as exc:  # before OSError: TimeoutError is one
                await self._drop("no reply in time")
                raise DeviceUnavailable(f"{self.name}: no reply in time") from exc
            except (ConnectionError, OSError) as exc:
                await self._drop(str(exc) or type(exc).__name__, closed=True)
                raise DeviceUnavailable(
                    f"{self.name}: connection lost: {exc or type(exc).__name__}"
                ) from exc
            except asyncio.CancelledError:
                await self._drop("request cancelled mid-exchange")
                raise

    async def close(self) -> None:
        """Close the link; safe to call more than once."""
        if self.state is LinkState.CLOSED:
            return
        self.state = LinkState.CLOSED
        link, self._link = self._link, None
        if link is not None:
            await link.close()


class HostCodec(Protocol[E_co]):
    """The host side of a sans-IO device codec."""

    def receive_data(self, data: bytes) -> None: ...
    def next_event(self) -> E_co | NeedData: ...


async def bounded(work: Awaitable[T], timeout_s: float) -> T:
    """``work`` within ``timeout_s``; a timeout is a ConnectionError, so the link is dropped."""
    try:
        async with asyncio.timeout(timeout_s):
            return await work
    except TimeoutError:
        raise ConnectionError(f"no reply within {timeout_s} s") from None


class DeviceClient:
    """A driver over one :class:`DeviceLink` (``link``): its name, state, connect, wait, close.

    Bytes that break the protocol are skipped by the codec, counted in ``protocol_errors`` and
    logged at DEBUG (noise is normal on a shop floor).
    """

    def __init__(
        self,
        name: str,
        make_link: Callable[[], Link],
        policy: ReconnectPolicy | None,
        connect_timeout: float,
    ) -> None:
        self.name = name
        self.protocol_errors = 0
        self.link = DeviceLink(name, make_link, policy or ReconnectPolicy(name), connect_timeout)

    @property
    def link_state(self) -> LinkState:
        """Where the link to the device is (connected, reconnecting, closed)."""
        return self.link.state

    async def connect(self) -> None:
        """Connect now; DeviceUnavailable if the device cannot be reached."""
        await self.link.connect()

    async def wait_connected(self) -> None:
        """Wait (through the policy's backoff) until the device accepts a connection again."""
        await self.link.wait_connected()

    async def close(self) -> None:
        """Close the connection; safe to call twice, a request after it is DeviceUnavailable."""
        await self.link.close()


class Exchange(Generic[E]):
    """One request's view of the connection: send bytes, take the device's next event."""

    def __init__(self, owner: DeviceClient, link: Link, codec: HostCodec[E]) -> None:
        self._owner = owner
        self._link = link
        self._codec = codec

    async def send(self, data: bytes) -> None:
        await self._link.write(data)

    async def next_event(self) -> E:
        """The next event; malformed input is skipped and counted; a surrounding timeout bounds
        the wait."""
        while True:
            try:
                event = self._codec.next_event()
            except ProtocolError as exc:
                self._owner.protocol_errors += 1
                log.debug("%s: skipping malformed input: %s", self._owner.name, exc)
                continue
            if event is not NEED_DATA:
                return event
            self._codec.receive_data(await self._link.read())
