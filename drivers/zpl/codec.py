"""ZPL II over a raw byte stream, both sides, sans-IO (no sockets, no asyncio, no clocks).

Host side (:class:`ZplHostConnection`): ``send`` turns a PrintJob into a label format, or asks for
host status (``~HS``) or an SGD variable (``! U1 getvar "name"``); ``receive_data`` /
``next_event`` turn the printer's bytes into :class:`HostStatus` (three STX..ETX strings) and
:class:`SgdValue` (a double-quoted value) events.

Device side (:class:`ZplDeviceConnection`): the printer's view; ``^XA ... ^XZ`` formats become
:class:`Label` objects with escapes resolved, ``~HS`` a :class:`HostStatusRequest`, SGD lines a
:class:`SgdCommand`; ``send`` encodes the replies.

RFID read-backs (:mod:`drivers.zpl.rfid`): an RFID printer sends ``RFID seq=N epc=HEX`` CR LF after
each encoded label, unasked. The host codec takes such lines out of the stream wherever they come
(between replies, or in bytes the link would discard as stale: :meth:`ZplHostConnection.salvage`)
into ``readbacks``; they are never returned as events, so a request's replies stay in step.

Print confirmation: the SGD variable ``odometer.total_label_count`` (Link-OS printers: labels
printed over the printer's life, not resettable) read after each ``~HS``; printers that answer
``"?"`` fall back to the client's own count (formats sent minus formats still in the buffer).

Both parsers skip noise between frames, raise :class:`ZplProtocolError` (with the stream offset)
for a malformed frame after consuming it, and never hold more than a bounded amount of input.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum
from typing import Final

from drivers.interfaces import PrintJob, ProtocolError
from drivers.sansio import NEED_DATA, ByteStream, NeedData
from drivers.zpl.labelformat import Label, build_label, parse_label
from drivers.zpl.rfid import READBACK_HEADER, ReadBack, parse_readback
from drivers.zpl.status import FIELD_COUNTS, HostStatus, build_status_reply, parse_status_fields

LABEL_COUNT_VAR: Final = "odometer.total_label_count"
MAX_FORMAT: Final = 64 * 1024  # bytes between ^XA and ^XZ
MAX_LINE: Final = 1024  # an SGD command line
MAX_REPLY: Final = 256  # one ~HS string or one SGD value
_READBACK_HEAD: Final = READBACK_HEADER.encode("ascii")


class ZplProtocolError(ProtocolError):
    """Malformed ZPL bytes at stream offset ``offset``."""

    def __init__(self, offset: int, message: str) -> None:
        super().__init__(f"ZPL at byte {offset}: {message}")
        self.offset = offset


# --- events ---------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class HostStatusRequest:
    """``~HS``: the host asks for the three status strings."""


@dataclass(frozen=True, slots=True)
class SgdCommand:
    """``! U1 <verb> "name" ["value"]`` (Set-Get-Do), verb getvar, setvar or do."""

    verb: str
    name: str
    value: str | None = None


@dataclass(frozen=True, slots=True)
class SgdValue:
    """The printer's answer to a getvar: the value between double quotes (``?`` if unknown)."""

    value: str


@dataclass(frozen=True, slots=True)
class ControlCommand:
    """Any other ``~`` command (``~JA`` cancel all, ``~PS`` resume, ``~HQES`` ...), by name."""

    name: str


ZplHostEvent = HostStatus | SgdValue
ZplDeviceEvent = Label | HostStatusRequest | SgdCommand | ControlCommand


def sgd_getvar(name: str) -> bytes:
    """``! U1 getvar "name"`` with the CR LF that ends an SGD command."""
    if '"' in name or "\r" in name or "\n" in name:
        raise ValueError(f"SGD variable name {name!r} must not contain quotes or line breaks")
    return f'! U1 getvar "{name}"\r\n'.encode("ascii")


# --- stream codecs -------------------------------------------------------------------------------


class ZplHostConnection(ByteStream):
    """Host side: encode requests, parse ``~HS`` strings and SGD values from the printer."""

    def __init__(self) -> None:
        super().__init__()
        self._strings: list[bytes] = []
        self.readbacks: list[ReadBack] = []  # RFID read-backs seen, oldest first (caller takes)
        self._carry = b""  # the start of a read-back line cut off by a clear() or salvage()

    def receive_data(self, data: bytes) -> None:
        if self._carry:
            data, self._carry = self._carry + data, b""
        super().receive_data(data)

    def salvage(self, data: bytes) -> None:
        """Keep the RFID read-backs in ``data``, bytes about to be thrown away as stale input
        (the rest of them is dropped); a line cut off at the end is finished by what comes next."""
        data = self._carry + data
        self._carry = b""
        start = data.find(_READBACK_HEAD)
        while start >= 0:
            end = data.find(b"\n", start)
            if end < 0:
                if len(data) - start < MAX_REPLY:
                    self._carry = data[start:]
                return
            self._take_readback(data[start : end + 1])
            start = data.find(_READBACK_HEAD, end)
        tail = data[-len(_READBACK_HEAD) + 1 :]
        for cut in range(len(tail)):  # a header itself split at the end
            if _READBACK_HEAD.startswith(tail[cut:]):
                self._carry = tail[cut:]
                return

    def _take_readback(self, line: bytes) -> None:
        try:
            self.readbacks.append(parse_readback(line))
        except ValueError:
            self.skipped += len(line)

    def send(self, event: PrintJob | HostStatusRequest | SgdCommand) -> bytes:
        if isinstance(event, PrintJob):
            return build_label(event)
        if isinstance(event, HostStatusRequest):
            return b"~HS"
        if event.verb != "getvar":
            raise ValueError(f"only SGD getvar is sent by the host codec, not {event.verb!r}")
        return sgd_getvar(event.name)

    def clear(self) -> None:
        """Forget buffered input and any half-received status (stale bytes before a request);
        RFID read-backs in it are kept (:meth:`salvage`)."""
        pending = bytes(self._buf)
        super().clear()
        self._strings.clear()
        self.salvage(pending)

    def next_event(self) -> ZplHostEvent | NeedData:
        buf = self._buf
        while buf:
            first = buf[0]
            if first == 0x02:
                status = self._status_string()
                if status is _PARTIAL:
                    continue
                return status
            if first == 0x22:  # '"'
                value = self._sgd_value()
                if value is not NEED_DATA and self._strings:
                    self._strings.clear()
                    raise ZplProtocolError(self._offset, "SGD value inside a ~HS reply")
                return value
            if first == _READBACK_HEAD[0]:
                head = bytes(buf[: len(_READBACK_HEAD)])
                if head == _READBACK_HEAD:
                    end = buf.find(b"\n", 0, MAX_REPLY)
                    if end < 0 and len(buf) < MAX_REPLY:
                        return NEED_DATA
                    line = bytes(buf[: end + 1]) if end >= 0 else bytes(buf[:MAX_REPLY])
                    self._drop(len(line))
                    self._take_readback(line)
                    continue
                if _READBACK_HEAD.startswith(head):
                    return NEED_DATA  # maybe a read-back's first bytes
            self._drop(1)
            if first not in b"\r\n":
                self.skipped += 1
        return NEED_DATA

    def _status_string(self) -> HostStatus | NeedData | _Partial:
        buf, start = self._buf, self._offset
        end = buf.find(b"\x03", 1, MAX_REPLY)
        restart = buf.find(b"\x02", 1, end if end >= 0 else MAX_REPLY)
        if restart >= 0:
            self._drop(restart)
            self._strings.clear()
            raise ZplProtocolError(start, "~HS string interrupted by a new STX before its ETX")
        if end < 0:
            if len(buf) >= MAX_REPLY:
                self._drop(1)
                self._strings.clear()
                raise ZplProtocolError(start, f"no ETX within {MAX_REPLY} bytes of STX")
            return NEED_DATA
        body = bytes(buf[1:end])
        self._drop(end + 1)
        count = body.count(b",") + 1
        place = len(self._strings)
        if count != FIELD_COUNTS[place]:
            self._strings.clear()
            if count == FIELD_COUNTS[0]:
                self._strings.append(body)  # a fresh reply starts; the old one was incomplete
                raise ZplProtocolError(start, "~HS reply restarted before string 3 arrived")
            raise ZplProtocolError(
                start,
                f"expected ~HS string {place + 1} ({FIELD_COUNTS[place]} fields), "
                f"got {count} fields",
            )
        self._strings.append(body)
        if len(self._strings) < 3:
            return _PARTIAL
        strings = (self._strings[0], self._strings[1], self._strings[2])
        self._strings.clear()
        try:
            return parse_status_fields(strings)
        except ValueError as exc:
            raise ZplProtocolError(start, str(exc)) from None

    def _sgd_value(self) -> SgdValue | NeedData:
        buf, start = self._buf, self._offset
        close = buf.find(b'"', 1, MAX_REPLY)
        body = bytes(buf[1:close]) if close >= 0 else bytes(buf[1:MAX_REPLY])
        bad = next((i for i, c in enumerate(body) if c < 0x20 or c > 0x7E), None)
        if bad is not None:
            self._drop(1 + bad)  # not a value after all: resync at the odd byte
            raise ZplProtocolError(start, f"control byte 0x{body[bad]:02X} inside an SGD value")
        if close < 0:
            if len(buf) >= MAX_REPLY:
                self._drop(1)
                raise ZplProtocolError(start, f"no closing quote within {MAX_REPLY} bytes")
            return NEED_DATA
        self._drop(close + 1)
        return SgdValue(body.decode("ascii"))


class _Partial(Enum):
    PARTIAL = "partial"


_PARTIAL: Final = _Partial.PARTIAL


class ZplDeviceConnection(ByteStream):
    """Printer side: parse formats, ``~`` commands and SGD lines; encode status and SGD replies."""

    def send(self, event: HostStatus | SgdValue) -> bytes:
        if isinstance(event, HostStatus):
            return build_status_reply(event)
        if '"' in event.value or any(ord(c) < 0x20 or ord(c) > 0x7E for c in event.value):
            raise ValueError(f"SGD value {event.value!r} must be printable ASCII without quotes")
        return f'"{event.value}"'.encode("ascii")

    def next_event(self) -> ZplDeviceEvent | NeedData:
        buf = self._buf
        while buf:
            head = bytes(buf[:4])
            if head.startswith(b"^XA"):
                return self._format()
            if b"^XA".startswith(head[:3]) and len(buf) < 3:
                return NEED_DATA
            if buf[0] == 0x7E:  # '~'
                return self._control()
            if buf[0] == 0x21:  # '!'
                return self._sgd()
            self._drop(1)
            if head[:1] not in (b"\r", b"\n", b" ", b"\t"):
                self.skipped += 1
        return NEED_DATA

    def _format(self) -> Label | NeedData:
        buf, start = self._buf, self._offset
        end = buf.find(b"^XZ", 3)
        again = buf.find(b"^XA", 3, end if end >= 0 else len(buf))
        if again >= 0:
            self._drop(again)
            raise ZplProtocolError(start, "format not closed with ^XZ before the next ^XA")
        if end < 0:
            if len(buf) > MAX_FORMAT:
                self._drop(3)
                raise ZplProtocolError(start, f"no ^XZ within {MAX_FORMAT} bytes of ^XA")
            return NEED_DATA
        raw = bytes(buf[3:end])
        self._drop(end + 3)
        try:
            return parse_label(raw.decode("utf-8"), base=start + 3)
        except UnicodeDecodeError as exc:
            raise ZplProtocolError(start + 3 + exc.start, "format is not UTF-8 (^CI28)") from None
        except ValueError as exc:
            raise ZplProtocolError(start, str(exc)) from None

    def _control(self) -> HostStatusRequest | ControlCommand | NeedData:
        buf, start = self._buf, self._offset
        if len(buf) < 3:
            return NEED_DATA
        name = bytes(buf[1:3]).upper()
        if not name.isalnum() or not name.isascii():
            self._drop(1)
            raise ZplProtocolError(start, f"'~' followed by {bytes(buf[:2])!r}, not a command")
        if name == b"HS":
            self._drop(3)
            return HostStatusRequest()
        if name == b"HQ":
            if len(buf) < 5:
                return NEED_DATA
            query = bytes(buf[3:5]).decode("ascii", "replace").upper()
            self._drop(5)
            return ControlCommand("HQ" + query)
        self._drop(3)
        return ControlCommand(name.decode("ascii"))

    def _sgd(self) -> SgdCommand | NeedData:
        buf, start = self._buf, self._offset
        end = buf.find(b"\n", 0, MAX_LINE)
        if end < 0:
            if len(buf) >= MAX_LINE:
                self._drop(1)
                raise ZplProtocolError(start, f"SGD line longer than {MAX_LINE} bytes")
            return NEED_DATA
        line = bytes(buf[:end]).rstrip(b"\r").decode("latin-1")
        self._drop(end + 1)
        words = line.split(None, 2)
        if len(words) < 3 or words[0] != "!" or words[1].upper() != "U1":
            raise ZplProtocolError(start, f"expected '! U1 <verb> ...', got {line[:40]!r}")
        verb, _, rest = words[2].partition(" ")
        quoted = rest.split('"')[1::2]
        if verb.lower() not in ("getvar", "setvar", "do") or not quoted:
            raise ZplProtocolError(start, f"bad SGD command {line[:60]!r}")
        value = quoted[1] if len(quoted) > 1 else None
        return SgdCommand(verb.lower(), quoted[0], value)
