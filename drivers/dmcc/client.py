"""DmccReader: a Cognex DataMan as a CodeReader, over DMCC on TCP (port 23 on real readers).

On every (re)connection the driver switches the reader to extended responses
(``||>SET COM.DMCC-RESPONSE 1``; a reader in Silent mode does not answer it) and then asks
``||0:<id>>GET COM.DMCC-RESPONSE``, whose tagged answer ``||0:<id>[0]1`` proves the mode and
synchronises the stream. A read is ``||0:<id>>TRIGGER ON``: the reader acknowledges with
``||0:<id>[0]`` and sends the read string as a status-1 frame. Command ids match replies to
requests; any other status on the trigger is the reader refusing it.
"""

from __future__ import annotations

from drivers.dmcc.codec import Command, DmccHost, Response, Status
from drivers.interfaces import DeviceError, DeviceUnavailable, ReadResult
from drivers.links import Exchange
from drivers.reader_codec import parse_read_text
from drivers.reader_link import ReaderLink
from drivers.reconnect import ReconnectPolicy

DEFAULT_PORT = 23
MAX_COMMAND_ID = 999_999_999  # the codec accepts ids of at most 9 digits


class DmccReader(ReaderLink[Response]):
    """Cognex DataMan reader over DMCC. Offers: CodeReader, Reconnecting.

    ``grade_separator``: the reader's output formatting appends the ISO/IEC 15415 overall grade
    after this string (None: no grade is appended). ``no_read_text``: the reader's no-read string.
    """

    def __init__(
        self,
        host: str,
        port: int = DEFAULT_PORT,
        *,
        read_timeout: float = 1.0,
        connect_timeout: float = 2.0,
        policy: ReconnectPolicy | None = None,
        grade_separator: str | None = ",",
        no_read_text: str = "NoRead",
        name: str | None = None,
    ) -> None:
        super().__init__(
            host,
            port,
            name=name or f"dmcc {host}:{port}",
            read_timeout=read_timeout,
            connect_timeout=connect_timeout,
            policy=policy,
        )
        self.grade_separator = grade_separator
        self.no_read_text = no_read_text
        self._last_id = 0
        self._encoder = DmccHost()  # send() keeps no state; the receiving codec is per link

    def _new_codec(self) -> DmccHost:
        return DmccHost()

    def _next_id(self) -> int:
        self._last_id = self._last_id % MAX_COMMAND_ID + 1
        return self._last_id

    @staticmethod
    async def _reply_to(exchange: Exchange[Response], command_id: int) -> Response:
        """The response carrying ``command_id``; frames for other ids are stale, skipped."""
        while True:
            response = await exchange.next_event()
            if response.command_id == command_id:
                return response

    def _refusal(self, what: str, response: Response) -> DeviceError:
        message = f"{self.name}: {what} refused: status {response.status} ({response.meaning})"
        if response.status == Status.READER_UNAVAILABLE:
            return DeviceUnavailable(message)
        return DeviceError(message)

    async def _handshake(self, exchange: Exchange[Response]) -> None:
        await exchange.send(self._encoder.send(Command("SET COM.DMCC-RESPONSE 1")))
        command_id = self._next_id()
        await exchange.send(self._encoder.send(Command("GET COM.DMCC-RESPONSE", command_id)))
        response = await self._reply_to(exchange, command_id)
        if response.status != Status.NO_ERROR:
            raise self._refusal("GET COM.DMCC-RESPONSE", response)
        if response.payload.strip() != "1":
            raise DeviceError(
                f"{self.name}: reader stays in response mode {response.payload!r}, expected 1"
            )

    async def _transact(self, exchange: Exchange[Response], seq: int | None) -> ReadResult:
        command_id = self._next_id()
        await exchange.send(self._encoder.send(Command("TRIGGER ON", command_id)))
        while True:
            response = await exchange.next_event()
            if response.command_id == command_id and response.status != Status.NO_ERROR:
                raise self._refusal("TRIGGER ON", response)
            if response.status == Status.READ_STRING:
                read = parse_read_text(
                    response.payload, separator=self.grade_separator, no_read=self.no_read_text
                )
                return read.to_result(seq)
