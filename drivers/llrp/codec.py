"""LLRP framing and parameters over a byte stream, both sides, sans-IO.

Facts from EPCglobal *Low Level Reader Protocol (LLRP) 1.0.1* (also in LLRP 1.1), sections 4 and 16:

* A message is a 10-byte header and a body: ``Rsvd(3) Ver(3) MessageType(10)`` in 2 bytes
  (version 1), ``MessageLength`` (4 bytes, the whole message), ``MessageID`` (4 bytes, echoed in
  the response).
  Integers are big-endian. TCP port 5084.
* A TLV parameter: ``Rsvd(6) Type(10)`` in 2 bytes, ``Length`` (2 bytes, the whole parameter), the
  value and then its sub-parameters. A TV parameter: ``1 Type(7)`` in one byte, then a value whose
  length the type fixes (e.g. AntennaID 2 bytes, PeakRSSI 1 byte signed dBm, EPC-96 12 bytes).

LLRP has no frame marker, so after bytes that are not a plausible header (version 1, a message type
this codec knows, a length from 10 to MAX_MESSAGE) the codec skips one byte and looks again; the
skipped bytes are reported once as a ProtocolError naming the stream offset.
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Final

from drivers.reader_codec import ReaderProtocolError
from drivers.sansio import NEED_DATA, ByteStream, NeedData

PROTOCOL: Final = "llrp"
VERSION: Final = 1
HEADER_LEN: Final = 10
MAX_MESSAGE: Final = 1 << 20  # a read of a few hundred tags is a few kB; more is noise


class MessageType:
    """LLRP message types used here (LLRP 1.0.1 section 16.1)."""

    SET_READER_CONFIG = 3
    CLOSE_CONNECTION_RESPONSE = 4
    SET_READER_CONFIG_RESPONSE = 13
    CLOSE_CONNECTION = 14
    ADD_ROSPEC = 20
    DELETE_ROSPEC = 21
    START_ROSPEC = 22
    STOP_ROSPEC = 23
    ENABLE_ROSPEC = 24
    ADD_ROSPEC_RESPONSE = 30
    DELETE_ROSPEC_RESPONSE = 31
    START_ROSPEC_RESPONSE = 32
    STOP_ROSPEC_RESPONSE = 33
    ENABLE_ROSPEC_RESPONSE = 34
    ADD_ACCESSSPEC = 40
    DELETE_ACCESSSPEC = 41
    ENABLE_ACCESSSPEC = 42
    ADD_ACCESSSPEC_RESPONSE = 50
    DELETE_ACCESSSPEC_RESPONSE = 51
    ENABLE_ACCESSSPEC_RESPONSE = 52
    RO_ACCESS_REPORT = 61
    KEEPALIVE = 62
    READER_EVENT_NOTIFICATION = 63
    KEEPALIVE_ACK = 72
    ERROR_MESSAGE = 100


#: request type -> the type of its response
RESPONSES: Final[dict[int, int]] = {
    MessageType.SET_READER_CONFIG: MessageType.SET_READER_CONFIG_RESPONSE,
    MessageType.CLOSE_CONNECTION: MessageType.CLOSE_CONNECTION_RESPONSE,
    MessageType.ADD_ROSPEC: MessageType.ADD_ROSPEC_RESPONSE,
    MessageType.DELETE_ROSPEC: MessageType.DELETE_ROSPEC_RESPONSE,
    MessageType.START_ROSPEC: MessageType.START_ROSPEC_RESPONSE,
    MessageType.STOP_ROSPEC: MessageType.STOP_ROSPEC_RESPONSE,
    MessageType.ENABLE_ROSPEC: MessageType.ENABLE_ROSPEC_RESPONSE,
    MessageType.ADD_ACCESSSPEC: MessageType.ADD_ACCESSSPEC_RESPONSE,
    MessageType.DELETE_ACCESSSPEC: MessageType.DELETE_ACCESSSPEC_RESPONSE,
    MessageType.ENABLE_ACCESSSPEC: MessageType.ENABLE_ACCESSSPEC_RESPONSE,
}
KNOWN_TYPES: Final = frozenset(
    [*RESPONSES, *RESPONSES.values(), MessageType.RO_ACCESS_REPORT, MessageType.KEEPALIVE,
     MessageType.READER_EVENT_NOTIFICATION, MessageType.KEEPALIVE_ACK, MessageType.ERROR_MESSAGE]
)  # fmt: skip


class ParamType:
    """LLRP parameter types used here (LLRP 1.0.1 section 16.2); 1-127 are TV, 128+ TLV."""

    ANTENNA_ID = 1
    FIRST_SEEN_UTC = 2
    PEAK_RSSI = 6
    TAG_SEEN_COUNT = 8
    ROSPEC_ID = 9
    EPC_96 = 13
    UTC_TIMESTAMP = 128
    ROSPEC = 177
    RO_BOUNDARY_SPEC = 178
    ROSPEC_START_TRIGGER = 179
    ROSPEC_STOP_TRIGGER = 182
    AISPEC = 183
    AISPEC_STOP_TRIGGER = 184
    INVENTORY_PARAMETER_SPEC = 186
    ACCESS_SPEC = 207
    ACCESS_SPEC_STOP_TRIGGER = 208
    ACCESS_COMMAND = 209
    RO_REPORT_SPEC = 237
    TAG_REPORT_CONTENT_SELECTOR = 238
    TAG_REPORT_DATA = 240
    EPC_DATA = 241
    READER_EVENT_NOTIFICATION_SPEC = 244
    EVENT_NOTIFICATION_STATE = 245
    READER_EVENT_NOTIFICATION_DATA = 246
    ROSPEC_EVENT = 249
    CONNECTION_ATTEMPT_EVENT = 256
    LLRP_STATUS = 287
    C1G2_TAG_SPEC = 338
    C1G2_TARGET_TAG = 339
    C1G2_READ = 341
    C1G2_READ_OP_SPEC_RESULT = 349


#: TV parameter type -> value length in bytes (LLRP 1.0.1 section 16.2, types 1-18).
TV_LENGTHS: Final[dict[int, int]] = {
    1: 2, 2: 8, 3: 8, 4: 8, 5: 8, 6: 1, 7: 2, 8: 2, 9: 4, 10: 2, 11: 2, 12: 2, 13: 12, 14: 2,
    15: 2, 16: 4, 17: 2, 18: 4,
}  # fmt: skip


class LlrpProtocolError(ReaderProtocolError):
    """Bytes that are not LLRP; the codec has already skipped them when this is raised."""

    def __init__(self, offset: int, expected: str, got: bytes) -> None:
        super().__init__(PROTOCOL, offset, expected, got)


@dataclass(frozen=True)
class Message:
    """One LLRP message: its type, its id and its body (the parameters, not yet parsed)."""

    kind: int
    message_id: int
    body: bytes = b""

    def encode(self) -> bytes:
        """The message on the wire."""
        length = HEADER_LEN + len(self.body)
        return struct.pack(">HII", VERSION << 10 | self.kind, length, self.message_id) + self.body


@dataclass(frozen=True)
class Param:
    """One parameter: type, the bytes of its own fields and its sub-parameters (TLV only)."""

    kind: int
    value: bytes
    children: tuple[Param, ...] = field(default=())

    def find(self, kind: int) -> Param | None:
        return next((p for p in self.children if p.kind == kind), None)

    def find_all(self, kind: int) -> list[Param]:
        return [p for p in self.children if p.kind == kind]


def tlv(kind: int, fields: bytes = b"", *children: bytes) -> bytes:
    """A TLV parameter: header, its fields, then its already-encoded sub-parameters."""
    body = fields + b"".join(children)
    return struct.pack(">HH", kind, 4 + len(body)) + body


def tv(kind: int, value: bytes) -> bytes:
    """A TV parameter (``kind`` 1-127, ``value`` of the length the type fixes)."""
    if TV_LENGTHS.get(kind) != len(value):
        raise ValueError(f"TV parameter {kind}: {len(value)} bytes, not {TV_LENGTHS.get(kind)}")
    return bytes([0x80 | kind]) + value


FixedFields = dict[int, int | Callable[[bytes], int]]


def parse_params(data: bytes, fixed: FixedFields | None = None) -> tuple[Param, ...]:
    """Parse a run of parameters; ``fixed`` gives, per TLV type, how many bytes of fixed fields
    come before its sub-parameters, or a function of the parameter's bytes that says so (a type
    missing from it has no sub-parameters: all is value).

    Raises ValueError on a truncated or malformed parameter (the caller names the message).
    """
    fixed = fixed or {}
    out: list[Param] = []
    pos = 0
    while pos < len(data):
        first = data[pos]
        if first & 0x80:
            kind = first & 0x7F
            size = TV_LENGTHS.get(kind)
            if size is None or pos + 1 + size > len(data):
                raise ValueError(f"TV parameter {kind} at {pos}: unknown or truncated")
            out.append(Param(kind, data[pos + 1 : pos + 1 + size]))
            pos += 1 + size
            continue
        if pos + 4 > len(data):
            raise ValueError(f"parameter header at {pos} is truncated")
        kind, length = struct.unpack_from(">HH", data, pos)
        kind &= 0x3FF
        if length < 4 or pos + length > len(data):
            raise ValueError(f"TLV parameter {kind} at {pos}: length {length} does not fit")
        inner = data[pos + 4 : pos + length]
        n = fixed.get(kind)
        if n is None:
            out.append(Param(kind, inner))
        else:
            n = n if isinstance(n, int) else n(inner)
            out.append(Param(kind, inner[:n], parse_params(inner[n:], fixed)))
        pos += length
    return tuple(out)


class LlrpStream:
    """Either side of an LLRP connection: bytes in, :class:`Message` out; messages in, bytes out.

    Both sides frame alike; the host and the reader differ only in which messages they build and
    read (see :mod:`drivers.llrp.messages`).
    """

    def __init__(self) -> None:
        self._in = ByteStream()
        self._skipping: int | None = None  # stream offset where skipped bytes began

    @property
    def skipped(self) -> int:
        return self._in.skipped

    def receive_data(self, data: bytes) -> None:
        self._in.receive_data(data)

    def send(self, message: Message) -> bytes:
        return message.encode()

    def _plausible(self, buf: bytes | bytearray) -> bool | None:
        """True: a header starts here; False: it does not; None: too few bytes to tell."""
        if len(buf) < 1:
            return None
        if buf[0] >> 2 != VERSION:  # Rsvd 000, Ver 001
            return False
        if len(buf) < 6:
            return None
        word, length = struct.unpack_from(">HI", buf, 0)
        return (word & 0x3FF) in KNOWN_TYPES and HEADER_LEN <= length <= MAX_MESSAGE

    def next_event(self) -> Message | NeedData:
        buf = self._in._buf  # noqa: SLF001 - ByteStream is this package's buffer
        while True:
            plausible = self._plausible(buf)
            if plausible is None:
                return NEED_DATA
            if plausible:
                break
            if self._skipping is None:
                self._skipping = self._in._offset  # noqa: SLF001
            self._in._drop(1)  # noqa: SLF001
            self._in.skipped += 1
        if self._skipping is not None:
            start, self._skipping = self._skipping, None
            raise LlrpProtocolError(start, "an LLRP message header", bytes(buf[:16]))
        if len(buf) < HEADER_LEN:
            return NEED_DATA
        word, length, message_id = struct.unpack_from(">HII", buf, 0)
        if len(buf) < length:
            return NEED_DATA
        body = bytes(buf[HEADER_LEN:length])
        self._in._drop(length)  # noqa: SLF001
        return Message(word & 0x3FF, message_id, body)
