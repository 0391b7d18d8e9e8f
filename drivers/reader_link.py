"""What both smart-reader drivers (DMCC, Keyence SR) do around a read, on drivers.links.

Template method, as python-can's ``BusABC.recv``: :meth:`ReaderLink.read` takes the
:class:`drivers.links.DeviceLink` (one request at a time, reconnect per the ReconnectPolicy, stale
input discarded, link dropped on any I/O failure or timeout), runs the driver's handshake once per
new connection and bounds the whole exchange by ``read_timeout``; a driver implements only
:meth:`_transact` (and :meth:`_handshake` if it needs one).

Behaviour a caller can rely on (mostly DeviceLink's):

* A reply that does not come within ``read_timeout``, or a connection lost mid-reply, fails that
  request with DeviceUnavailable and drops the connection, so a late reply can never be taken for
  the next request's; the next request reconnects.
* While the policy's backoff runs after a failed connection attempt, a request fails at once with
  DeviceUnavailable instead of stalling the line; :meth:`wait_connected` waits it out.
* Every exchange starts with a fresh codec, so no half-parsed stale bytes survive a request.
  Bytes that break the protocol are skipped by the codec, counted in ``protocol_errors`` and
  logged at DEBUG (noise is normal on a shop floor).
* ``close()`` is safe to call twice; a request after it fails with DeviceUnavailable.
"""

from __future__ import annotations

import asyncio
import logging
from abc import ABC, abstractmethod
from collections.abc import Awaitable
from typing import Generic, Protocol, TypeVar

from drivers.interfaces import LinkState, ProtocolError, ReadResult
from drivers.links import DeviceLink, Link, TcpLink
from drivers.reader_codec import NEED_DATA, NeedData
from drivers.reconnect import ReconnectPolicy

E = TypeVar("E")
T = TypeVar("T")
E_co = TypeVar("E_co", covariant=True)

logger = logging.getLogger("linectl.devices")


class ReaderCodec(Protocol[E_co]):
    """The host side of a sans-IO reader codec."""

    def receive_data(self, data: bytes) -> None: ...
    def next_event(self) -> E_co | NeedData: ...


class Exchange(Generic[E]):
    """One request's view of the connection: send bytes, take the device's next event."""

    def __init__(self, owner: ReaderLink[E], link: Link, codec: ReaderCodec[E]) -> None:
        self._owner = owner
        self._link = link
        self._codec = codec

    async def send(self, data: bytes) -> None:
        await self._link.write(data)

    async def next_event(self) -> E:
        """The next event; the surrounding timeout bounds the wait."""
        while True:
            try:
                event = self._codec.next_event()
            except ProtocolError as exc:
                self._owner.protocol_errors += 1
                logger.debug("%s: %s", self._owner.name, exc)
                continue
            if event is not NEED_DATA:
                return event
            self._codec.receive_data(await self._link.read())


class ReaderLink(ABC, Generic[E]):
    """A CodeReader over TCP, one request at a time, reconnecting per a ReconnectPolicy."""

    def __init__(
        self,
        host: str,
        port: int,
        *,
        name: str,
        read_timeout: float = 1.0,
        connect_timeout: float = 2.0,
        policy: ReconnectPolicy | None = None,
    ) -> None:
        if read_timeout <= 0 or connect_timeout <= 0:
            raise ValueError(f"{name}: timeouts must be > 0 seconds")
        self.host = host
        self.port = port
        self.name = name
        self.read_timeout = read_timeout
        self.protocol_errors = 0
        self.device = DeviceLink(
            name, lambda: TcpLink(host, port), policy or ReconnectPolicy(name), connect_timeout
        )
        self._prepared: Link | None = None  # the connection the handshake last ran on

    # --- what a driver implements ----------------------------------------------------------------

    @property
    def link_state(self) -> LinkState:
        """Where the link to the reader is (connected, reconnecting, closed)."""
        return self.device.state

    @abstractmethod
    def _new_codec(self) -> ReaderCodec[E]:
        """A fresh host-side codec."""

    async def _handshake(self, exchange: Exchange[E]) -> None:
        """Bring a new connection into the state ``_transact`` expects (default: nothing)."""

    @abstractmethod
    async def _transact(self, exchange: Exchange[E], seq: int | None) -> ReadResult:
        """Trigger one read and return its result."""

    # --- CodeReader ------------------------------------------------------------------------------

    async def connect(self) -> None:
        """Connect and prepare the reader now (otherwise the first read does)."""
        await self.device.connect()
        async with self.device.exchange() as link:
            await self._bounded(self._prepare(link))

    async def read(self, seq: int | None = None) -> ReadResult:
        """Trigger the reader and return its read; a no-read is ``ReadResult(text=None)``."""
        async with self.device.exchange() as link:
            return await self._bounded(self._read_on(link, seq))

    async def wait_connected(self) -> None:
        """Wait (through the policy's backoff) until the reader accepts a connection again."""
        await self.device.wait_connected()

    async def close(self) -> None:
        """Close the connection; safe to call twice."""
        await self.device.close()

    async def _read_on(self, link: Link, seq: int | None) -> ReadResult:
        await self._prepare(link)
        return await self._transact(Exchange(self, link, self._new_codec()), seq)

    async def _bounded(self, work: Awaitable[T]) -> T:
        """``work`` within ``read_timeout``; a timeout counts as a lost link, which is dropped."""
        try:
            async with asyncio.timeout(self.read_timeout):
                return await work
        except TimeoutError:
            raise ConnectionError(f"no reply within {self.read_timeout} s") from None

    async def _prepare(self, link: Link) -> None:
        if link is self._prepared:
            return
        await self._handshake(Exchange(self, link, self._new_codec()))
        self._prepared = link
