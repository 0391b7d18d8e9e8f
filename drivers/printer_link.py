"""What both printer drivers (ZPL, WSI) do around a job or a status request, on drivers.links.

Like :class:`drivers.reader_link.ReaderLink` for readers and :class:`drivers.plc.client.PlcClient`
for PLCs: :class:`PrinterLink` holds the :class:`drivers.links.DeviceLink` (one request at a time,
reconnect per the ReconnectPolicy, stale input discarded, link dropped on any I/O failure or
timeout), the host codec and the count of jobs sent; a driver only encodes its requests and reads
its replies through :meth:`PrinterLink._request`.

Behaviour a caller can rely on (mostly DeviceLink's):

* A request whose replies do not all come within ``reply_timeout``, or a connection lost
  mid-reply, fails with DeviceUnavailable and drops the connection, so a late reply can never be
  taken for the next request's; the next request reconnects.
* Before each request the codec forgets every byte still buffered (stale replies).
* ``close()`` is safe to call twice; a request after it fails with DeviceUnavailable.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from typing import Generic, Protocol, TypeVar

from drivers.links import DeviceClient, Exchange, HostCodec, Link
from drivers.reconnect import ReconnectPolicy

E = TypeVar("E")
E_co = TypeVar("E_co", covariant=True)


class ResettableCodec(HostCodec[E_co], Protocol[E_co]):
    """A host codec that can forget buffered input before a new request."""

    def clear(self) -> None: ...


class PrinterLink(DeviceClient, Generic[E]):
    """A Printer over one byte link: jobs written, replies read one request at a time."""

    def __init__(
        self,
        name: str,
        make_link: Callable[[], Link],
        codec: ResettableCodec[E],
        *,
        policy: ReconnectPolicy | None = None,
        connect_timeout: float = 3.0,
        reply_timeout: float = 2.0,
    ) -> None:
        super().__init__(name, make_link, policy, connect_timeout)
        self.reply_timeout = reply_timeout
        self.loaded = 0  # jobs sent through this driver
        self._replies = codec

    async def _write(self, data: bytes) -> None:
        """Send bytes the printer does not answer (a ZPL label format)."""
        async with self.link.exchange() as link:
            await link.write(data)

    @contextlib.asynccontextmanager
    async def _request(self, data: bytes) -> AsyncIterator[Exchange[E]]:
        """Send ``data`` in one write; the body reads the replies, all within ``reply_timeout``."""
        async with self.link.exchange() as link, asyncio.timeout(self.reply_timeout):
            self._replies.clear()
            await link.write(data)
            yield Exchange(self, link, self._replies)
