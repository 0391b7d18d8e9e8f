"""LCFP, the frame push protocol: a camera pushes grey frames to the host over TCP (sans-IO codec).

Both sides live here (host role and camera role): ``receive_data(bytes)`` buffers (``b""`` = end of
stream), or ``get_buffer()`` lends memory to receive into; ``next_event()`` returns an event,
``NEED_DATA`` or ``CLOSED``, or raises ``FramePushError`` naming the byte offset;
``send(event) -> bytes``. No sockets, no clocks.

Every message is a 40-byte header, big-endian, followed by ``payload_len`` payload bytes::

    offset size field
       0    4  magic         b"LCFP"
       4    1  version       1
       5    1  type          1 HELLO, 2 HELLO_ACK, 3 FRAME, 4 KEEPALIVE, 5 BYE
       6    1  pixel_format  0 none, 1 GREY8 (one byte per pixel, row-major, top row first)
       7    1  flags         bit 0 PAYLOAD_CRC: payload_crc is set and checked; bits 1-7 zero
       8    8  seq           u64, FRAME: the pack sequence number the frame was taken for; else 0
      16    8  timestamp_ns  u64, sender's clock, ns since the Unix epoch (0 if unknown)
      24    2  width         u16, pixels (FRAME, HELLO_ACK), else 0
      26    2  height        u16, pixels (FRAME, HELLO_ACK), else 0
      28    4  payload_len   u32
      32    4  payload_crc   u32, CRC-32 (zlib.crc32) of the payload when PAYLOAD_CRC, else 0
      36    4  header_crc    u32, CRC-32 of header bytes 0-35
      40    .  payload

Payloads, the session and the limits (``Limits``): docs/frame-push.md.

Resynchronisation: when the bytes at a message boundary are not ``LCFP`` the receiver raises one
FramePushError naming the offset, then silently skips to the next ``LCFP``. A header that fails its
CRC or a field check raises and the search restarts one byte later; a payload that fails its CRC
raises and the search restarts right after that header. The header CRC keeps a chance ``LCFP``
inside pixel data from being taken for a message.
"""

from __future__ import annotations

import enum
import struct
import zlib
from collections.abc import Callable
from dataclasses import dataclass

from drivers.interfaces import Frame, ProtocolError

MAGIC = b"LCFP"
VERSION = 1
HEADER_SIZE = 40
_HEADER = struct.Struct(">4sBBBBQQHHII")  # bytes 0-35; header_crc follows
_U32 = struct.Struct(">I")
FLAG_PAYLOAD_CRC = 0x01
_U64_MAX = (1 << 64) - 1
_MIN_AREA = 1 << 16  # get_buffer's memory is at least this big (small messages share it)


def _fastest_crc32() -> Callable[[bytes | bytearray | memoryview], int]:
    """ISA-L's CRC-32 when installed: the same numbers as ``zlib.crc32``, ~30 times faster on a
    VGA frame (5 us instead of 150 us on the event loop for every frame received)."""
    try:
        from isal.isal_zlib import crc32
    except ImportError:  # isal is a dependency; zlib is only the fallback
        return zlib.crc32
    return crc32


_crc32 = _fastest_crc32()


class MessageType(enum.IntEnum):
    HELLO = 1
    HELLO_ACK = 2
    FRAME = 3
    KEEPALIVE = 4
    BYE = 5


class PixelFormat(enum.IntEnum):
    NONE = 0
    GREY8 = 1


class Role(enum.Enum):
    """Which end of the link this codec speaks for."""

    HOST = "host"
    CAMERA = "camera"


class FramePushError(ProtocolError):
    """Received bytes that break the frame push protocol, at stream byte ``offset``."""

    def __init__(self, message: str, offset: int) -> None:
        super().__init__(message)
        self.offset = offset


@dataclass(frozen=True, slots=True)
class Limits:
    """Size limits a receiver enforces (and a sender respects)."""

    max_frame_bytes: int = 16 * 1024 * 1024
    max_text: int = 1024


@dataclass(frozen=True, slots=True)
class Hello:
    client: str = ""
    timestamp_ns: int = 0


@dataclass(frozen=True, slots=True)
class HelloAck:
    width: int
    height: int
    keepalive_ms: int = 0
    camera: str = ""
    timestamp_ns: int = 0


@dataclass(frozen=True, slots=True)
class FrameMessage:
    seq: int
    width: int
    height: int
    pixels: bytes | memoryview  # received frames: a read-only view of the memory received into
    timestamp_ns: int = 0

    def to_frame(self) -> Frame:
        return Frame(self.seq, self.width, self.height, self.pixels, self.timestamp_ns)


@dataclass(frozen=True, slots=True)
class Keepalive:
    timestamp_ns: int = 0


@dataclass(frozen=True, slots=True)
class Bye:
    reason: str = ""
    timestamp_ns: int = 0


Event = Hello | HelloAck | FrameMessage | Keepalive | Bye


class _Sentinel(enum.Enum):
    NEED_DATA = "need-data"
    CLOSED = "closed"


NEED_DATA = _Sentinel.NEED_DATA
CLOSED = _Sentinel.CLOSED

_FROM_CAMERA = {MessageType.HELLO_ACK, MessageType.FRAME, MessageType.KEEPALIVE, MessageType.BYE}
_FROM_HOST = {MessageType.HELLO, MessageType.KEEPALIVE, MessageType.BYE}


def _header(
    mtype: MessageType,
    payload: bytes | memoryview,
    *,
    seq: int = 0,
    timestamp_ns: int = 0,
    width: int = 0,
    height: int = 0,
    pixel_format: PixelFormat = PixelFormat.NONE,
    payload_crc: bool = True,
) -> bytes:
    if not (0 <= seq <= _U64_MAX and 0 <= timestamp_ns <= _U64_MAX):
        raise ValueError(f"seq {seq} and timestamp_ns {timestamp_ns} must fit in 64 bits")
    if not (0 <= width <= 0xFFFF and 0 <= height <= 0xFFFF):
        raise ValueError(f"frame size {width}x{height} does not fit in 16 bits")
    flags = FLAG_PAYLOAD_CRC if payload_crc and payload else 0
    crc = _crc32(payload) if flags else 0
    head = _HEADER.pack(
        MAGIC, VERSION, mtype, pixel_format, flags, seq, timestamp_ns, width, height,
        len(payload), crc,
    )  # fmt: skip
    return head + _U32.pack(_crc32(head))


def _text(value: str, what: str, limits: Limits) -> bytes:
    raw = value.encode("utf-8")
    if len(raw) > limits.max_text:
        raise ValueError(f"{what} is {len(raw)} bytes; the limit is {limits.max_text}")
    return raw


def encode(event: Event, limits: Limits = Limits(), payload_crc: bool = True) -> bytes:
    """Bytes of one message (no role or state checks; see FramePushConnection.send)."""
    if isinstance(event, FrameMessage):
        if event.width < 1 or event.height < 1 or len(event.pixels) != event.width * event.height:
            raise ValueError(
                f"frame seq {event.seq}: {event.width}x{event.height} needs "
                f"{event.width * event.height} pixel bytes, got {len(event.pixels)}"
            )
        if len(event.pixels) > limits.max_frame_bytes:
            raise ValueError(f"frame of {len(event.pixels)} bytes exceeds the limit")
        head = _header(
            MessageType.FRAME, event.pixels, seq=event.seq, timestamp_ns=event.timestamp_ns,
            width=event.width, height=event.height, pixel_format=PixelFormat.GREY8,
            payload_crc=payload_crc,
        )  # fmt: skip
        return head + event.pixels
    if isinstance(event, Hello):
        payload = _text(event.client, "client name", limits)
        return _header(MessageType.HELLO, payload, timestamp_ns=event.timestamp_ns) + payload
    if isinstance(event, HelloAck):
        if event.width < 1 or event.height < 1:
            raise ValueError(f"HELLO_ACK frame size {event.width}x{event.height} must be >= 1x1")
        if not 0 <= event.keepalive_ms <= 0xFFFFFFFF:
            raise ValueError(f"keepalive_ms {event.keepalive_ms} does not fit in 32 bits")
        payload = _U32.pack(event.keepalive_ms) + _text(event.camera, "camera name", limits)
        head = _header(
            MessageType.HELLO_ACK, payload, timestamp_ns=event.timestamp_ns,
            width=event.width, height=event.height, pixel_format=PixelFormat.GREY8,
        )  # fmt: skip
        return head + payload
    if isinstance(event, Keepalive):
        return _header(MessageType.KEEPALIVE, b"", timestamp_ns=event.timestamp_ns)
    payload = _text(event.reason, "bye reason", limits)
    return _header(MessageType.BYE, payload, timestamp_ns=event.timestamp_ns) + payload


class FramePushConnection:
    """One end of an LCFP link: parses what the peer sends, encodes what this end sends."""

    def __init__(self, role: Role, *, limits: Limits = Limits(), payload_crc: bool = True) -> None:
        self.role = role
        self.limits = limits
        self.payload_crc = payload_crc
        self.handshake_done = False  # host: HELLO_ACK received; camera: HELLO_ACK sent
        self.hello_received = False  # camera only
        self.hello_sent = False  # host only
        self.bytes_received = 0
        self.bytes_skipped = 0
        self.messages_received = 0
        self._buf = bytearray()  # bytes given to receive_data (or moved out of an area), unread
        self._area: memoryview | None = None  # memory lent out by get_buffer, read in place
        self._start = 0  # self._area[_start:_end] holds bytes received and not taken yet
        self._end = 0
        self._scratch: memoryview | None = None  # get_buffer's memory while behind (see there)
        self._into_scratch = False  # the last get_buffer gave the scratch
        self._want = 0  # size of the message in progress once next_event has seen its header
        self._expect = HEADER_SIZE  # size of the next message, guessed from the last FRAME
        self._base = 0  # stream offset of the first byte buffered
        self._eof = False
        self._in_garbage = False  # a resync error was raised; skip silently to the next magic

    # --- receiving ------------------------------------------------------------------------------

    @property
    def buffered(self) -> int:
        """Bytes received and not yet taken as messages."""
        return len(self._buf) + self._end - self._start

    def receive_data(self, data: bytes | bytearray | memoryview) -> None:
        """Buffer bytes from the peer (copied); ``b""`` means the peer closed the stream."""
        if not data:
            self._eof = True
            return
        self._keep()
        self._buf += data
        self.bytes_received += len(data)

    def get_buffer(self, sizehint: int = -1) -> memoryview:
        """Memory to receive the next bytes into, then call ``buffer_updated(n)`` (the sans-IO
        half of asyncio's BufferedProtocol). It is sized for the message in progress (once its
        header is known) or for one more like the last FRAME, so a frame lands whole in memory of
        its own and its pixels are a read-only view of it: the socket's copy is the only one. A
        message split between two areas costs one copy of its first part; while unread messages
        pile up (the consumer is behind) bytes are joined in the codec's buffer instead."""
        have, area = self.buffered, self._area
        waiting = self._want > have  # next_event asked for more: all we have is one message's start
        need = self._expect
        if waiting:  # the header's size once it is known, else the size of the last frame
            need = (self._want if self._want > HEADER_SIZE else max(HEADER_SIZE, need)) - have
        self._into_scratch = False
        if not self._buf and area is not None and len(area) - self._end >= need:
            return area[self._end :]
        if have and not waiting:
            self._keep()  # behind: copy as receive_data does, not into ever bigger areas
            if self._scratch is None or len(self._scratch) < self._expect:
                self._scratch = memoryview(bytearray(max(self._expect, _MIN_AREA)))
            self._into_scratch = True
            return self._scratch
        fresh = bytearray(have + max(need, sizehint, _MIN_AREA))
        fresh[:have] = self._buf or (b"" if area is None else area[self._start : self._end])
        self._buf.clear()
        self._area = memoryview(fresh)
        self._start, self._end = 0, have
        return self._area[have:]

    def buffer_updated(self, nbytes: int) -> None:
        """``nbytes`` were received into the memory the last ``get_buffer`` returned."""
        if self._into_scratch:
            assert self._scratch is not None
            self._buf += self._scratch[:nbytes]
        else:
            self._end += nbytes
        self.bytes_received += nbytes

    def _keep(self) -> None:
        """Move the bytes still unread in the area to the connection's own buffer."""
        if self._end > self._start:
            assert self._area is not None
            self._buf += self._area[self._start : self._end]
            self._start = self._end

    def _consume(self, n: int) -> None:
        if self._buf:
            del self._buf[:n]
        else:
            self._start += n
        self._base += n

    def _fail(self, message: str, offset: int, skip: int) -> FramePushError:
        """Drop ``skip`` bytes, arm the silent resync, and build the error to raise."""
        self._want = 0
        self._consume(skip)
        self.bytes_skipped += skip
        self._in_garbage = True
        return FramePushError(f"{message} at byte offset {offset}", offset)

    def next_event(self) -> Event | _Sentinel:
        """The next complete message, NEED_DATA, CLOSED (peer closed, nothing left) or raise."""
        buf: bytearray | memoryview
        if self._buf:
            buf = self._buf
        elif self._end > self._start and self._area is not None:
            buf = self._area[self._start : self._end]
        else:
            return CLOSED if self._eof else NEED_DATA
        head = min(len(buf), 4)
        if bytes(buf[:head]) != MAGIC[:head]:
            return self._resync()
        if len(buf) < HEADER_SIZE:
            return self._short(HEADER_SIZE)
        offset = self._base
        (_magic, version, mtype, pix, flags, seq, ts, width, height, plen, pcrc) = (
            _HEADER.unpack_from(buf, 0)
        )
        (hcrc,) = _U32.unpack_from(buf, 36)
        if _crc32(buf[:36]) != hcrc:
            raise self._fail("header CRC mismatch", offset, 1)
        if version != VERSION:
            raise self._fail(f"unsupported version {version} (expected {VERSION})", offset + 4, 1)
        try:
            kind = MessageType(mtype)
        except ValueError:
            raise self._fail(f"unknown message type {mtype}", offset + 5, 1) from None
        if flags & ~FLAG_PAYLOAD_CRC:
            raise self._fail(f"reserved flag bits set in {flags:#04x}", offset + 7, 1)
        problem = self._check_header(kind, pix, width, height, plen)
        if problem is not None:
            raise self._fail(f"{kind.name}: {problem}", offset, 1)
        size = HEADER_SIZE + plen
        if kind is MessageType.FRAME:
            self._expect = size
        elif kind is MessageType.HELLO_ACK and self._expect == HEADER_SIZE:
            self._expect += min(width * height, self.limits.max_frame_bytes)
        if len(buf) < size:
            return self._short(size)
        payload: bytes | memoryview
        if kind is MessageType.FRAME and isinstance(buf, memoryview):
            payload = buf[HEADER_SIZE:size].toreadonly()  # pixels read in place: no copy
        else:
            with memoryview(buf) as view:
                payload = bytes(view[HEADER_SIZE:size])  # one copy
        if flags & FLAG_PAYLOAD_CRC and _crc32(payload) != pcrc:
            raise self._fail(f"{kind.name} seq {seq}: payload CRC mismatch", offset, HEADER_SIZE)
        self._consume(size)
        self._want = 0
        self._in_garbage = False
        self.messages_received += 1
        return self._event(kind, seq, ts, width, height, payload, offset)

    def _short(self, needed: int) -> _Sentinel:
        if not self._eof:
            self._want = needed
            return NEED_DATA
        self._keep()
        have, offset = len(self._buf), self._base
        self._consume(have)
        raise FramePushError(
            f"stream ended inside a message at byte offset {offset}: have {have} of {needed} bytes",
            offset,
        )

    def _resync(self) -> _Sentinel | Event:
        self._want = 0
        self._keep()
        buf = self._buf
        offset = self._base
        found = buf.find(MAGIC, 1)
        if found < 0:
            keep = next((k for k in (3, 2, 1) if buf.endswith(MAGIC[:k])), 0)
            drop = len(buf) - keep
        else:
            drop = found
        self._consume(drop)
        self.bytes_skipped += drop
        if not self._in_garbage:
            self._in_garbage = found < 0
            where = "skipped to the next 'LCFP'" if found >= 0 else "no 'LCFP' yet"
            raise FramePushError(
                f"bad magic at byte offset {offset}: expected 'LCFP', {where} ({drop} bytes)",
                offset,
            )
        if found < 0:
            return self._short(4) if self._buf else (CLOSED if self._eof else NEED_DATA)
        return self.next_event()

    def _check_header(
        self, kind: MessageType, pix: int, width: int, height: int, plen: int
    ) -> str | None:
        allowed = _FROM_CAMERA if self.role is Role.HOST else _FROM_HOST
        if kind not in allowed:
            return f"not expected from the {'camera' if self.role is Role.HOST else 'host'}"
        if kind is MessageType.FRAME:
            if pix != PixelFormat.GREY8:
                return f"pixel format {pix} is not GREY8 (1)"
            if width < 1 or height < 1:
                return f"frame size {width}x{height} is empty"
            if plen != width * height:
                return f"payload_len {plen} is not {width}x{height}"
            if plen > self.limits.max_frame_bytes:
                return f"frame of {plen} bytes exceeds {self.limits.max_frame_bytes}"
            return None
        if kind is MessageType.HELLO_ACK:
            if pix != PixelFormat.GREY8 or width < 1 or height < 1:
                return f"frame format {width}x{height} pixel format {pix} is not usable"
            if not 4 <= plen <= 4 + self.limits.max_text:
                return f"payload_len {plen} outside 4..{4 + self.limits.max_text}"
            return None
        if pix or width or height:
            return "pixel_format, width and height must be 0"
        limit = 0 if kind is MessageType.KEEPALIVE else self.limits.max_text
        if plen > limit:
            return f"payload_len {plen} exceeds {limit}"
        return None

    def _event(
        self,
        kind: MessageType,
        seq: int,
        ts: int,
        width: int,
        height: int,
        payload: bytes | memoryview,
        at: int,
    ) -> Event:
        if kind is MessageType.KEEPALIVE:
            return Keepalive(ts)
        if kind is MessageType.BYE:
            return Bye(self._decode_text(payload, at), ts)
        if kind is MessageType.HELLO:
            if self.hello_received:
                raise FramePushError(f"second HELLO at byte offset {at}", at)
            self.hello_received = True
            return Hello(self._decode_text(payload, at), ts)
        if kind is MessageType.HELLO_ACK:
            if self.handshake_done:
                raise FramePushError(f"second HELLO_ACK at byte offset {at}", at)
            self.handshake_done = True
            (keepalive,) = _U32.unpack_from(payload, 0)
            return HelloAck(width, height, keepalive, self._decode_text(payload[4:], at), ts)
        if not self.handshake_done:
            raise FramePushError(f"FRAME seq {seq} before HELLO_ACK at byte offset {at}", at)
        return FrameMessage(seq, width, height, payload, ts)

    @staticmethod
    def _decode_text(raw: bytes | memoryview, at: int) -> str:
        try:
            return str(raw, "utf-8")
        except UnicodeDecodeError as exc:
            pos = at + HEADER_SIZE + exc.start
            raise FramePushError(f"text is not UTF-8 at byte offset {pos}", pos) from None

    # --- sending --------------------------------------------------------------------------------

    def send(self, event: Event) -> bytes:
        """Encode ``event`` for the peer; raises ValueError when this end may not send it now."""
        if self.role is Role.HOST:
            if isinstance(event, HelloAck | FrameMessage):
                raise ValueError(f"the host does not send {type(event).__name__}")
            if isinstance(event, Hello):
                if self.hello_sent:
                    raise ValueError("HELLO already sent on this connection")
                self.hello_sent = True
        else:
            if isinstance(event, Hello):
                raise ValueError("the camera does not send HELLO")
            if isinstance(event, HelloAck):
                if not self.hello_received or self.handshake_done:
                    raise ValueError("HELLO_ACK goes once, after the host's HELLO")
                self.handshake_done = True
            if isinstance(event, FrameMessage) and not self.handshake_done:
                raise ValueError("FRAME before HELLO_ACK")
        return encode(event, self.limits, self.payload_crc)
