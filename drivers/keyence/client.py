"""KeyenceReader: a Keyence SR-series reader as a CodeReader, over its command port (TCP 9004).

A read is ``LON`` CR: the reader answers ``OK,LON`` (readers set to "SR-600 compatible" responses
send no acknowledgement, which is accepted too), then the read data line, or its read-error string
(``ERROR``) when nothing decoded. ``ER,LON,<ee>`` is the reader refusing the trigger.
"""

from __future__ import annotations

from drivers.interfaces import DeviceError, ReadResult
from drivers.keyence.codec import Ack, Command, ErrorReply, KeyenceHost, Reply
from drivers.links import Exchange
from drivers.reader_link import ReaderLink
from drivers.reconnect import ReconnectPolicy

DEFAULT_PORT = 9004


class KeyenceReader(ReaderLink[Reply]):
    """Keyence SR reader. Offers: CodeReader, Reconnecting.

    ``grades``: the reader appends its ISO/IEC 15415 verification result after ``delimiter``.
    ``no_read_text``: the reader's read-error string. ``trigger``: the timing ON command
    (``LON`` unless changed in the reader; it may carry a parameter bank, e.g. ``LON,02``).
    """

    def __init__(
        self,
        host: str,
        port: int = DEFAULT_PORT,
        *,
        read_timeout: float = 1.0,
        connect_timeout: float = 2.0,
        policy: ReconnectPolicy | None = None,
        grades: bool = True,
        delimiter: str = ":",
        no_read_text: str = "ERROR",
        trigger: str = "LON",
        name: str | None = None,
    ) -> None:
        super().__init__(
            host,
            port,
            name=name or f"keyence {host}:{port}",
            read_timeout=read_timeout,
            connect_timeout=connect_timeout,
            policy=policy,
        )
        self.grades = grades
        self.delimiter = delimiter
        self.no_read_text = no_read_text
        name_, *params = trigger.split(",")
        self._trigger = Command(name_, tuple(params))
        self._trigger_bytes = self._new_codec().send(self._trigger)  # validates the settings

    def _new_codec(self) -> KeyenceHost:
        return KeyenceHost(grades=self.grades, delimiter=self.delimiter, no_read=self.no_read_text)

    async def _transact(self, exchange: Exchange[Reply], seq: int | None) -> ReadResult:
        await exchange.send(self._trigger_bytes)
        while True:
            reply = await exchange.next_event()
            if isinstance(reply, Ack):
                continue  # OK,LON; the read follows (an ack for another command is stale)
            if isinstance(reply, ErrorReply):
                if reply.command == self._trigger.name:
                    raise DeviceError(
                        f"{self.name}: {self._trigger.name} refused: error {reply.code:02d} "
                        f"({reply.meaning})"
                    )
                continue
            return reply.to_result(seq)
