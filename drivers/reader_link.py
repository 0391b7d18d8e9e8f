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
  logged at DEBUG (noise is normal on a shop floor); see :class:`drivers.links.DeviceClient`.
* ``close()`` is safe to call twice; a request after it fails with DeviceUnavailable.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Generic, TypeVar

from drivers.interfaces import ReadResult
from drivers.links import DeviceClient, Exchange, HostCodec, Link, TcpLink, bounded
from drivers.reconnect import ReconnectPolicy

E = TypeVar("E")


class ReaderLink(DeviceClient, ABC, Generic[E]):
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
        super().__init__(name, lambda: TcpLink(host, port), policy, connect_timeout)
        self.host = host
        self.port = port
        self.read_timeout = read_timeout
        self._prepared: Link | None = None  # the connection the handshake last ran on

    # --- what a driver implements ----------------------------------------------------------------

    @abstractmethod
    def _new_codec(self) -> HostCodec[E]:
        """A fresh host-side codec."""

    async def _handshake(self, exchange: Exchange[E]) -> None:
        """Bring a new connection into the state ``_transact`` expects (default: nothing)."""

    @abstractmethod
    async def _transact(self, exchange: Exchange[E], seq: int | None) -> ReadResult:
        """Trigger one read and return its result."""

    # --- CodeReader ------------------------------------------------------------------------------

    async def connect(self) -> None:
        """Connect and prepare the reader now (otherwise the first read does)."""
        await self.link.connect()
        async with self.link.exchange() as link:
            await bounded(self._prepare(link), self.read_timeout)

    async def read(self, seq: int | None = None) -> ReadResult:
        """Trigger the reader and return its read; a no-read is ``ReadResult(text=None)``."""
        async with self.link.exchange() as link:
            return await bounded(self._read_on(link, seq), self.read_timeout)

    async def _read_on(self, link: Link, seq: int | None) -> ReadResult:
        await self._prepare(link)
        return await self._transact(Exchange(self, link, self._new_codec()), seq)

    async def _prepare(self, link: Link) -> None:
        if link is self._prepared:
            return
        await self._handshake(Exchange(self, link, self._new_codec()))
        self._prepared = link
