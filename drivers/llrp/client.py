"""LlrpReader: a fixed UHF RFID reader over LLRP (TCP 5084) as a TagReader, on asyncio.

Not sllurp: sllurp 3.0 drives the reader from its own thread over a blocking socket and encodes
only the host side of the messages, so the daemon's one-request-at-a-time links, reconnect policy
and timeouts (drivers.links) run this small codec instead (drivers.llrp.codec / .messages).

On every (re)connection the driver clears what an earlier client left (DELETE_ACCESSSPEC and
DELETE_ROSPEC of all), turns ROSpec events on (SET_READER_CONFIG), adds and enables one ROSpec
(null start trigger, one AISpec that stops after ``inventory_ms``, reports at the end of the
ROSpec) and, with ``read_tid``, an AccessSpec reading the TID bank of every tag. A read is
START_ROSPEC: the tags come in RO_ACCESS_REPORTs, and the READER_EVENT_NOTIFICATION that the ROSpec
ended closes the read. No tag is a no-read, a result, not an exception. The same tag reported more
than once (several antennas, several reports) is one TagRead with the strongest RSSI.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from drivers.interfaces import DeviceError, DeviceUnavailable, TagRead, TagReadResult
from drivers.links import DeviceClient, Exchange, Link, TcpLink, bounded
from drivers.llrp import messages as msg
from drivers.llrp.codec import RESPONSES, LlrpStream, Message
from drivers.llrp.codec import MessageType as M
from drivers.reconnect import ReconnectPolicy

DEFAULT_PORT = 5084
MAX_MESSAGE_ID = 2**32 - 1
log = logging.getLogger(__name__)


class LlrpReader(DeviceClient):
    """Fixed RFID reader over LLRP. Offers: TagReader, Reconnecting.

    ``antennas``: antenna ids to inventory (empty: all); ``inventory_ms``: how long one read
    inventories; ``read_tid``: also read ``tid_words`` words of each tag's TID bank.
    """

    def __init__(
        self,
        host: str,
        port: int = DEFAULT_PORT,
        *,
        antennas: tuple[int, ...] = (),
        inventory_ms: int = 40,
        read_tid: bool = True,
        tid_words: int = 6,
        read_timeout: float = 2.0,
        connect_timeout: float = 2.0,
        policy: ReconnectPolicy | None = None,
        rospec_id: int = 1,
        name: str | None = None,
    ) -> None:
        name = name or f"llrp {host}:{port}"
        if read_timeout <= 0 or connect_timeout <= 0:
            raise ValueError(f"{name}: timeouts must be > 0 seconds")
        if not 0 < inventory_ms < read_timeout * 1000:
            raise ValueError(f"{name}: inventory_ms must be > 0 and shorter than read_timeout")
        super().__init__(name, lambda: TcpLink(host, port), policy, connect_timeout)
        self.host, self.port = host, port
        self.read_timeout = read_timeout
        self.spec = msg.InventorySpec(rospec_id, tuple(antennas), inventory_ms)
        self.tid = msg.TidReadSpec(1, rospec_id, tid_words) if read_tid else None
        self._last_id = 0
        self._prepared: Link | None = None

    def _next_id(self) -> int:
        self._last_id = self._last_id % MAX_MESSAGE_ID + 1
        return self._last_id

    # --- TagReader ------------------------------------------------------------------------------

    async def connect(self) -> None:
        """Connect and configure the reader now (otherwise the first read does)."""
        await self.link.connect()
        async with self.link.exchange() as link:
            await bounded(self._prepare(link), self.read_timeout)

    async def read_tags(self, seq: int | None = None) -> TagReadResult:
        """Inventory once and return every tag seen; none is ``TagReadResult(())``."""
        async with self.link.exchange() as link:
            return await bounded(self._read_on(link, seq), self.read_timeout)

    async def close(self) -> None:
        """Say CLOSE_CONNECTION (so the reader frees its one client slot now), then close; safe
        twice, and a reader that does not answer within a second is simply cut off."""
        if self.link.connected:
            with contextlib.suppress(DeviceError, OSError, TimeoutError):
                async with asyncio.timeout(1.0), self.link.exchange() as link:
                    request = Message(M.CLOSE_CONNECTION, self._next_id())
                    await self._request(Exchange(self, link, LlrpStream()), request)
        await super().close()

    # --- the exchanges --------------------------------------------------------------------------

    async def _prepare(self, link: Link) -> None:
        if link is self._prepared:
            return
        exchange = Exchange(self, link, LlrpStream())
        await self._request(exchange, msg.spec_id_message(M.DELETE_ACCESSSPEC, self._next_id(), 0))
        await self._request(exchange, msg.spec_id_message(M.DELETE_ROSPEC, self._next_id(), 0))
        await self._request(exchange, msg.set_reader_config_rospec_events(self._next_id()))
        await self._request(exchange, msg.add_rospec(self._next_id(), self.spec))
        rospec_id = self.spec.rospec_id
        await self._request(
            exchange, msg.spec_id_message(M.ENABLE_ROSPEC, self._next_id(), rospec_id)
        )
        if self.tid is not None:
            await self._request(exchange, msg.add_accessspec_tid(self._next_id(), self.tid))
            enable = msg.spec_id_message(
                M.ENABLE_ACCESSSPEC, self._next_id(), self.tid.access_spec_id
            )
            await self._request(exchange, enable)
        self._prepared = link

    async def _read_on(self, link: Link, seq: int | None) -> TagReadResult:
        await self._prepare(link)
        exchange = Exchange(self, link, LlrpStream())
        start = msg.spec_id_message(M.START_ROSPEC, self._next_id(), self.spec.rospec_id)
        reports: list[msg.TagReport] = []
        answered = False
        await exchange.send(start.encode())
        while True:
            message = await self._next(exchange)
            if message.kind == M.RO_ACCESS_REPORT:
                reports += [
                    t for t in msg.parse_ro_access_report(message)
                    if t.rospec_id in (None, self.spec.rospec_id)
                ]  # fmt: skip
                continue
            if message.kind == M.READER_EVENT_NOTIFICATION:
                event = self._event(message)
                if answered and event.rospec_event == (msg.ROSPEC_END, self.spec.rospec_id):
                    return TagReadResult(merge(reports), seq)
                continue
            if self._is_answer(message, start):
                self._check(start, message)
                answered = True
            elif message.kind == M.KEEPALIVE:
                await exchange.send(Message(M.KEEPALIVE_ACK, message.message_id).encode())

    async def _request(self, exchange: Exchange[Message], request: Message) -> None:
        """Send ``request`` and wait for its response; a refusal raises DeviceError."""
        await exchange.send(request.encode())
        while True:
            message = await self._next(exchange)
            if self._is_answer(message, request):
                self._check(request, message)
                return
            if message.kind == M.READER_EVENT_NOTIFICATION:
                self._event(message)
            elif message.kind == M.KEEPALIVE:
                await exchange.send(Message(M.KEEPALIVE_ACK, message.message_id).encode())

    async def _next(self, exchange: Exchange[Message]) -> Message:
        """The next message whose parameters parse; a malformed one is skipped and counted."""
        while True:
            message = await exchange.next_event()
            try:
                _validate(message)
            except msg.MessageError as exc:
                self.protocol_errors += 1
                log.debug("%s: skipping malformed message: %s", self.name, exc)
                continue
            return message

    @staticmethod
    def _is_answer(message: Message, request: Message) -> bool:
        kinds = (RESPONSES[request.kind], M.ERROR_MESSAGE)
        return message.kind in kinds and message.message_id == request.message_id

    def _check(self, request: Message, response: Message) -> None:
        status = msg.parse_status(response)
        if status.code != msg.STATUS_SUCCESS:
            raise DeviceError(
                f"{self.name}: LLRP message type {request.kind} refused: status {status.code}"
                + (f" ({status.description})" if status.description else "")
            )

    def _event(self, message: Message) -> msg.ReaderEvent:
        event = msg.parse_reader_event(message)
        if event.connection_status not in (None, msg.CONNECTION_SUCCESS, msg.CONNECTION_ATTEMPTED):
            raise DeviceUnavailable(
                f"{self.name}: reader refused the connection (ConnectionAttemptEvent status "
                f"{event.connection_status}; 2: another client holds it)"
            )
        return event


def _validate(message: Message) -> None:
    """Parse what the driver will read of ``message`` now, so a bad one fails here, not later."""
    if message.kind == M.RO_ACCESS_REPORT:
        msg.parse_ro_access_report(message)
    elif message.kind == M.READER_EVENT_NOTIFICATION:
        msg.parse_reader_event(message)
    elif message.kind in RESPONSES.values() or message.kind == M.ERROR_MESSAGE:
        msg.parse_status(message)


def merge(reports: list[msg.TagReport]) -> tuple[TagRead, ...]:
    """One TagRead per tag in first-seen order: strongest RSSI, counts summed. A tag is its EPC
    and TID: two TIDs under one EPC are two tags (a copied EPC); a report without the TID is
    the tag already seen with that EPC, and takes its TID when a later report carries it."""
    tags: list[TagRead] = []
    for report in reports:
        seen = report.seen_count or 1
        rssi = report.peak_rssi
        epc = report.epc.hex().upper()
        tid = report.tid.hex().upper() if report.tid is not None else None
        at = next(
            (
                i
                for i, tag in enumerate(tags)
                if tag.epc == epc and (tag.tid == tid or tag.tid is None or tid is None)
            ),
            None,
        )
        if at is None:
            tags.append(TagRead(epc, tid, rssi, report.antenna, seen))
            continue
        old = tags[at]
        stronger = rssi is not None and (old.rssi_dbm is None or rssi > old.rssi_dbm)
        tags[at] = TagRead(
            epc,
            old.tid or tid,
            rssi if stronger else old.rssi_dbm,
            report.antenna if stronger else old.antenna,
            old.seen_count + seen,
        )
    return tuple(tags)
