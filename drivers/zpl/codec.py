"""ZPL II over a raw byte stream, both sides, sans-IO (no sockets, no asyncio, no clocks).

Host side (:class:`ZplHostConnection`): ``send`` turns a PrintJob into a label format, or asks for
host status (``~HS``) or an SGD variable (``! U1 getvar "name"``); ``receive_data`` /
``next_event`` turn the printer's bytes into :class:`HostStatus` (three STX..ETX strings) and
:class:`SgdValue` (a double-quoted value) events.

Device side (:class:`ZplDeviceConnection`): the printer's view; ``^XA ... ^XZ`` formats become
:class:`Label` objects with escapes resolved, ``~HS`` a :class:`HostStatusRequest`, SGD lines a
:class:`SgdCommand`; ``send`` encodes the replies.

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
from drivers.zpl.fielddata import (
    DM_ESCAPE,
    FH_INDICATOR,
    decode_code128,
    decode_datamatrix,
    decode_field_hex,
    encode_datamatrix,
    encode_field_hex,
    encode_gs1_128,
    needs_field_hex,
)
from drivers.zpl.status import FIELD_COUNTS, HostStatus, build_status_reply, parse_status_fields

LABEL_COUNT_VAR: Final = "odometer.total_label_count"
MAX_FORMAT: Final = 64 * 1024  # bytes between ^XA and ^XZ
MAX_LINE: Final = 1024  # an SGD command line
MAX_REPLY: Final = 256  # one ~HS string or one SGD value


class _NeedData(Enum):
    NEED_DATA = "need-data"


NEED_DATA: Final = _NeedData.NEED_DATA


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


@dataclass(frozen=True, slots=True)
class Field:
    """One ``^FO ... ^FS`` field of a label: text or a code, with the data as it will be marked."""

    x: int
    y: int
    kind: str  # "text" | "datamatrix" | "gs1-128" | "code128" | "qr"
    data: str  # escapes resolved; GS1 codes as element strings with GS separators
    gs1: bool = False
    raw: str = ""  # the ^FD data as received


@dataclass(frozen=True, slots=True)
class Label:
    """A parsed label format: its fields, print quantity and ``^FX`` comments."""

    fields: tuple[Field, ...]
    quantity: int = 1
    comments: tuple[str, ...] = ()

    @property
    def code(self) -> Field | None:
        """The first code (non-text) field, the one a serialization line cares about."""
        return next((f for f in self.fields if f.kind != "text"), None)

    @property
    def texts(self) -> tuple[str, ...]:
        return tuple(f.data for f in self.fields if f.kind == "text")

    @property
    def seq(self) -> int | None:
        """The pack sequence number linectl writes into a ``^FX`` comment, if present."""
        for comment in self.comments:
            if comment.startswith("linectl seq="):
                tail = comment.removeprefix("linectl seq=")
                if tail.isdigit():
                    return int(tail)
        return None


ZplHostEvent = HostStatus | SgdValue
ZplDeviceEvent = Label | HostStatusRequest | SgdCommand | ControlCommand


# --- host side: building label formats -----------------------------------------------------------


@dataclass(frozen=True, slots=True)
class LabelLayout:
    """Where the code and the human-readable lines go on the label, in dots."""

    code_x: int = 30
    code_y: int = 30
    module_dots: int = 6  # ^BX element height: one module's size in dots
    bar_height: int = 120  # ^BC bar height
    bar_module: int = 2  # ^BY narrow bar width
    qr_magnification: int = 5
    text_x: int = 250
    text_y: int = 30
    font_height: int = 28
    line_height: int = 34


def _fd(data: str) -> str:
    if needs_field_hex(data):
        return f"^FH{FH_INDICATOR}^FD{encode_field_hex(data)}^FS"
    return f"^FD{data}^FS"


def _is_uri(data: str) -> bool:
    return data.startswith(("https://", "http://"))


def build_label(job: PrintJob, layout: LabelLayout | None = None) -> bytes:
    """The complete ``^XA...^XZ`` format for one job (one label, ``^PQ1``).

    Raises ValueError naming the problem when the job cannot be expressed in ZPL.
    """
    lay = layout or LabelLayout()
    if not job.data:
        raise ValueError(f"job {job.seq}: empty code data")
    parts = ["^XA", "^CI28", f"^FXlinectl seq={job.seq}^FS", f"^FO{lay.code_x},{lay.code_y}"]
    if job.symbology == "datamatrix":
        uri = _is_uri(job.data)
        parts.append(f"^BXN,{lay.module_dots},200,,,,{DM_ESCAPE}")
        parts.append(_fd(encode_datamatrix(job.data, gs1=not uri)))
    elif job.symbology == "gs1-128":
        parts.append(f"^BY{lay.bar_module}^BCN,{lay.bar_height},Y,N,N")
        parts.append(_fd(encode_gs1_128(job.data)))
    elif job.symbology == "qr":
        if not _is_uri(job.data):
            raise ValueError(
                f"job {job.seq}: GS1 element strings in QR are not supported over ZPL; "
                "use a Digital Link URI or datamatrix"
            )
        parts.append(f"^BQN,2,{lay.qr_magnification}")
        parts.append(_fd(f"QA,{job.data}"))
    else:
        raise ValueError(f"job {job.seq}: unknown symbology {job.symbology!r}")
    for n, line in enumerate(job.hri):
        y = lay.text_y + n * lay.line_height
        parts.append(f"^FO{lay.text_x},{y}^A0N,{lay.font_height},{lay.font_height}")
        parts.append(_fd(line))
    parts += ["^PQ1", "^XZ"]
    return "\n".join(parts).encode("utf-8") + b"\n"


def sgd_getvar(name: str) -> bytes:
    """``! U1 getvar "name"`` with the CR LF that ends an SGD command."""
    if '"' in name or "\r" in name or "\n" in name:
        raise ValueError(f"SGD variable name {name!r} must not contain quotes or line breaks")
    return f'! U1 getvar "{name}"\r\n'.encode("ascii")


# --- device side: parsing label formats ----------------------------------------------------------


def _ints(params: str, count: int) -> list[int]:
    out: list[int] = []
    for part in params.split(",")[:count]:
        part = part.strip()
        out.append(int(part) if part.isdigit() else 0)
    return out + [0] * (count - len(out))


def _tokens(body: str) -> list[tuple[int, str, str]]:
    """Split a format body into (offset, command name, parameters)."""
    out: list[tuple[int, str, str]] = []
    i = body.find("^")
    while i >= 0:
        j = body.find("^", i + 1)
        chunk = body[i + 1 : j if j >= 0 else len(body)]
        if len(chunk) >= 2:
            out.append((i, chunk[:2].upper(), chunk[2:]))
        elif chunk:
            out.append((i, chunk.upper(), ""))
        i = j
    return out


def parse_label(body: str, base: int = 0) -> Label:
    """Parse the text between ``^XA`` and ``^XZ``; ValueError names the offset of a bad field."""
    fields: list[Field] = []
    comments: list[str] = []
    quantity = 1
    x = y = 0
    kind = "text"
    escape = "~"  # ^BX default on current firmware; linectl always sends its own
    hex_indicator: str | None = None
    data: str | None = None
    for offset, name, raw_params in _tokens(body):
        at = base + offset
        params = raw_params.replace("\r", "").replace("\n", "")  # printers ignore CR LF
        if name in ("FO", "FT"):
            x, y = _ints(params, 2)
        elif name == "FH":
            hex_indicator = params[:1] or "_"
        elif name == "BX":
            kind = "datamatrix"
            parts = params.split(",")
            if len(parts) < 3 or parts[2].strip() != "200":
                raise ValueError(f"^BX at offset {at}: only quality 200 (ECC 200) is supported")
            escape = parts[6][:1] if len(parts) > 6 and parts[6] else "~"
        elif name == "BC":
            kind = "code128"
        elif name == "BQ":
            kind = "qr"
        elif name == "FD":
            data = params
        elif name == "FX":
            comments.append(params.strip())
        elif name == "PQ":
            quantity = max(1, _ints(params, 1)[0])
        elif name == "FS":
            if data is not None:
                fields.append(_resolve_field(x, y, kind, data, escape, hex_indicator, at))
            kind, data, hex_indicator = "text", None, None
    return Label(fields=tuple(fields), quantity=quantity, comments=tuple(comments))


def _resolve_field(
    x: int, y: int, kind: str, raw: str, escape: str, hex_indicator: str | None, at: int
) -> Field:
    try:
        text = decode_field_hex(raw, hex_indicator) if hex_indicator else raw
        if kind == "datamatrix":
            gs1, value = decode_datamatrix(text, escape)
            return Field(x, y, kind, value, gs1, raw)
        if kind == "code128":
            gs1, value = decode_code128(text)
            return Field(x, y, "gs1-128" if gs1 else "code128", value, gs1, raw)
        if kind == "qr":
            head, sep, value = text.partition(",")
            if not sep or len(head) != 2 or head[1] != "A":
                raise ValueError("^BQ data must be '<level>A,<data>' (automatic input mode)")
            return Field(x, y, kind, value, False, raw)
        return Field(x, y, kind, text, False, raw)
    except ValueError as exc:
        raise ValueError(f"field ending at offset {at}: {exc}") from exc


# --- stream codecs -------------------------------------------------------------------------------


class ZplHostConnection:
    """Host side: encode requests, parse ``~HS`` strings and SGD values from the printer."""

    def __init__(self) -> None:
        self._buf = bytearray()
        self._offset = 0  # stream offset of _buf[0]
        self._strings: list[bytes] = []
        self.skipped = 0  # noise bytes dropped between frames

    def send(self, event: PrintJob | HostStatusRequest | SgdCommand) -> bytes:
        if isinstance(event, PrintJob):
            return build_label(event)
        if isinstance(event, HostStatusRequest):
            return b"~HS"
        if event.verb != "getvar":
            raise ValueError(f"only SGD getvar is sent by the host codec, not {event.verb!r}")
        return sgd_getvar(event.name)

    def receive_data(self, data: bytes) -> None:
        self._buf += data

    def clear(self) -> None:
        """Forget buffered input and any half-received status (stale bytes before a request)."""
        self._offset += len(self._buf)
        self._buf.clear()
        self._strings.clear()

    def _drop(self, n: int) -> None:
        del self._buf[:n]
        self._offset += n

    def next_event(self) -> ZplHostEvent | _NeedData:
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
            self._drop(1)
            if first not in b"\r\n":
                self.skipped += 1
        return NEED_DATA

    def _status_string(self) -> HostStatus | _NeedData | _Partial:
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

    def _sgd_value(self) -> SgdValue | _NeedData:
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


class ZplDeviceConnection:
    """Printer side: parse formats, ``~`` commands and SGD lines; encode status and SGD replies."""

    def __init__(self) -> None:
        self._buf = bytearray()
        self._offset = 0
        self.skipped = 0

    def receive_data(self, data: bytes) -> None:
        self._buf += data

    def send(self, event: HostStatus | SgdValue) -> bytes:
        if isinstance(event, HostStatus):
            return build_status_reply(event)
        if '"' in event.value or any(ord(c) < 0x20 or ord(c) > 0x7E for c in event.value):
            raise ValueError(f"SGD value {event.value!r} must be printable ASCII without quotes")
        return f'"{event.value}"'.encode("ascii")

    def _drop(self, n: int) -> None:
        del self._buf[:n]
        self._offset += n

    def next_event(self) -> ZplDeviceEvent | _NeedData:
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

    def _format(self) -> Label | _NeedData:
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

    def _control(self) -> HostStatusRequest | ControlCommand | _NeedData:
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

    def _sgd(self) -> SgdCommand | _NeedData:
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
