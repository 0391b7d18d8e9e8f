"""Videojet WSI, both sides, sans-IO (no sockets, no asyncio, no clocks).

What the Videojet documents say (1000 Line Series WSI Communications Protocol, P/N 462115-01, and
the Willett Simple Protocol notes): every packet to the printer is ``STX TYPE DATA ETX``; the
printer answers with a three-character check sequence, ``$XX`` (accepted) or ``!XX`` (refused),
XX being the modulo-256 sum of all bytes between STX and ETX as two upper-case hex digits
(``RA`` -> ``$93``, since 0x52 + 0x41 = 0x93), or, for a request, with a packet holding the data.
Fields inside DATA are separated by LF (0x0A). TCP port 3100 (3102 for a second head).

What linectl had to choose (the packet type letters other than ``GA``, ``E`` and ``RA`` could not
be checked against the full manual): they live in :class:`WsiCommandSet`, so an installation can
match its firmware without code changes (``options.commands`` of the printer's device section,
read by :func:`command_set`). Data replies echo the request type first:
``STX GA <count, decimal> ETX`` and ``STX E <codes, comma-separated two-digit decimal> ETX``
(no codes: no error); error codes are in :data:`ERROR_NAMES`.

Host side :class:`WsiHostConnection`: ``send(Command) -> bytes``; events :class:`Ack`,
:class:`Nak`, :class:`DataReply`. Device side :class:`WsiDeviceConnection`: events
:class:`Command`; ``send(Ack | Nak | DataReply) -> bytes``. Noise between frames is skipped;
a frame that overruns :data:`MAX_FRAME` raises :class:`WsiProtocolError` and is dropped.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Final

from drivers.interfaces import ProtocolError
from drivers.sansio import NEED_DATA, ByteStream, NeedData

STX: Final = 0x02
ETX: Final = 0x03
SEP: Final = b"\n"
MAX_FRAME: Final = 4096
_HEX = b"0123456789ABCDEF"

# error codes in an ``E`` reply -> fault names (linectl's table; see module docstring)
ERROR_NAMES: Final[dict[int, str]] = {
    1: "jet-stopped",
    2: "head-open",
    3: "ink-out",
    4: "makeup-out",
    5: "charge-fault",
    6: "gutter-fault",
    7: "eht-trip",
    8: "printhead-temperature",
}


class WsiProtocolError(ProtocolError):
    """Malformed WSI bytes at stream offset ``offset``."""

    def __init__(self, offset: int, message: str) -> None:
        super().__init__(f"WSI at byte {offset}: {message}")
        self.offset = offset


def checksum(payload: bytes) -> int:
    """Modulo-256 sum of the bytes between STX and ETX."""
    return sum(payload) & 0xFF


@dataclass(frozen=True, slots=True)
class WsiCommandSet:
    """Packet type letters; defaults are linectl's reading of the WSI documents."""

    message_select: str = "M"
    user_field: str = "U"
    print_count: str = "GA"
    error_status: str = "E"
    print_on: str = "P1"
    print_off: str = "P0"

    def data_requests(self) -> tuple[str, ...]:
        """Types answered with a data packet instead of a check sequence (longest first)."""
        return tuple(sorted((self.print_count, self.error_status), key=len, reverse=True))

    def all(self) -> tuple[str, ...]:
        codes = (self.message_select, self.user_field, self.print_count, self.error_status,
                 self.print_on, self.print_off)  # fmt: skip
        return tuple(sorted(codes, key=len, reverse=True))


DEFAULT_COMMANDS: Final = WsiCommandSet()
COMMAND_NAMES: Final = tuple(WsiCommandSet.__dataclass_fields__)


def command_problem(letters: Mapping[str, object]) -> tuple[str, str] | None:
    """The first problem with packet type letters given by name (as in a line configuration):
    (name, what is wrong), or None when they make a usable command set."""
    seen: dict[str, str] = {}
    for name, value in letters.items():
        if name not in COMMAND_NAMES:
            return name, f"not a WSI command (known: {', '.join(COMMAND_NAMES)})"
        if not isinstance(value, str) or not re.fullmatch(r"[A-Z][A-Z0-9]?", value):
            return (
                name,
                f"one upper-case letter, optionally a letter or digit after it, not {value!r}",
            )
    merged = {name: getattr(DEFAULT_COMMANDS, name) for name in COMMAND_NAMES} | dict(letters)
    for name, value in merged.items():
        if value in seen:
            return name, f"{value!r} is also the {seen[value]} command"
        seen[str(value)] = name
    return None


def command_set(letters: WsiCommandSet | Mapping[str, str]) -> WsiCommandSet:
    """A command set from the configuration's letters by name (the rest stay the defaults)."""
    if isinstance(letters, WsiCommandSet):
        return letters
    problem = command_problem(letters)
    if problem is not None:
        raise ValueError(f"commands.{problem[0]}: {problem[1]}")
    return WsiCommandSet(**letters)


# --- events ---------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Command:
    """A packet to the printer: type letters and data (bytes between STX and ETX = type + data)."""

    code: str
    data: bytes = b""

    @property
    def payload(self) -> bytes:
        return self.code.encode("ascii") + self.data

    @property
    def checksum(self) -> int:
        return checksum(self.payload)


@dataclass(frozen=True, slots=True)
class Ack:
    """``$XX``: the printer accepted the packet whose checksum is XX."""

    checksum: int


@dataclass(frozen=True, slots=True)
class Nak:
    """``!XX``: the printer refused the packet whose checksum is XX."""

    checksum: int


@dataclass(frozen=True, slots=True)
class DataReply:
    """``STX payload ETX`` from the printer: the answer to a request."""

    payload: bytes


WsiHostEvent = Ack | Nak | DataReply


# --- builders and reply parsers (host side) -------------------------------------------------------


def select_message(name: str, commands: WsiCommandSet = DEFAULT_COMMANDS) -> Command:
    return Command(commands.message_select, _field(name, "message name"))


def update_user_field(name: str, value: str, commands: WsiCommandSet = DEFAULT_COMMANDS) -> Command:
    """Set user field ``name`` to ``value`` (GS1 data may hold GS 0x1D; STX/ETX/LF may not)."""
    return Command(commands.user_field, _field(name, "field name") + SEP + _field(value, "value"))


def print_count_request(commands: WsiCommandSet = DEFAULT_COMMANDS) -> Command:
    return Command(commands.print_count)


def error_status_request(commands: WsiCommandSet = DEFAULT_COMMANDS) -> Command:
    return Command(commands.error_status)


def _field(text: str, what: str) -> bytes:
    try:
        raw = text.encode("latin-1")
    except UnicodeEncodeError as exc:
        raise ValueError(
            f"{what} {text!r}: character at offset {exc.start} is not Latin-1"
        ) from None
    for i, byte in enumerate(raw):
        if byte in (STX, ETX, 0x0A):
            raise ValueError(f"{what} {text!r}: control byte 0x{byte:02X} at offset {i}")
    return raw


def parse_print_count(reply: DataReply, commands: WsiCommandSet = DEFAULT_COMMANDS) -> int:
    """The counter from a print-count reply; ValueError if the reply is something else."""
    prefix = commands.print_count.encode("ascii")
    digits = reply.payload.removeprefix(prefix)
    if not reply.payload.startswith(prefix) or not digits.isdigit() or len(digits) > 12:
        raise ValueError(f"not a print-count reply: {reply.payload[:32]!r}")
    return int(digits)


def parse_error_status(
    reply: DataReply, commands: WsiCommandSet = DEFAULT_COMMANDS
) -> tuple[int, ...]:
    """The active error codes from an error-status reply (empty: no error)."""
    prefix = commands.error_status.encode("ascii")
    body = reply.payload.removeprefix(prefix)
    if not reply.payload.startswith(prefix):
        raise ValueError(f"not an error-status reply: {reply.payload[:32]!r}")
    if not body:
        return ()
    codes = body.split(b",")
    if not all(c.isdigit() and len(c) <= 3 for c in codes):
        raise ValueError(f"error-status reply holds a non-numeric code: {body[:32]!r}")
    return tuple(int(c) for c in codes)


def fault_names(codes: tuple[int, ...]) -> tuple[str, ...]:
    return tuple(ERROR_NAMES.get(code, f"error-{code:02d}") for code in codes)


# --- stream codecs -------------------------------------------------------------------------------


class _Stream(ByteStream):
    def _frame(self) -> bytes | NeedData:
        """The payload of the STX..ETX frame at the buffer start (buffer[0] is STX)."""
        buf, start = self._buf, self._offset
        end = buf.find(ETX, 1, MAX_FRAME)
        restart = buf.find(STX, 1, end if end >= 0 else MAX_FRAME)
        if restart >= 0:
            self._drop(restart)
            raise WsiProtocolError(start, "frame interrupted by a new STX before its ETX")
        if end < 0:
            if len(buf) >= MAX_FRAME:
                self._drop(1)
                raise WsiProtocolError(start, f"no ETX within {MAX_FRAME} bytes of STX")
            return NEED_DATA
        payload = bytes(buf[1:end])
        self._drop(end + 1)
        return payload


class WsiHostConnection(_Stream):
    """Host side: encode commands, parse check sequences and data replies."""

    def send(self, command: Command) -> bytes:
        payload = command.payload
        if not command.code or any(b in (STX, ETX) for b in payload):
            raise ValueError(f"command {command.code!r}: empty type or STX/ETX inside the packet")
        return bytes([STX]) + payload + bytes([ETX])

    def next_event(self) -> WsiHostEvent | NeedData:
        buf = self._buf
        while buf:
            first = buf[0]
            if first == STX:
                payload = self._frame()
                return payload if payload is NEED_DATA else DataReply(payload)
            if first in b"$!":
                if len(buf) < 3:
                    return NEED_DATA
                digits = bytes(buf[1:3])
                if all(d in _HEX for d in digits):
                    self._drop(3)
                    value = int(digits, 16)
                    return Ack(value) if first == 0x24 else Nak(value)
                start = self._offset
                self._drop(1)
                raise WsiProtocolError(start, f"'{chr(first)}' not followed by two hex digits")
            self._drop(1)
            if first not in b"\r\n":
                self.skipped += 1
        return NEED_DATA


class WsiDeviceConnection(_Stream):
    """Printer side: parse packets into Commands; encode check sequences and data replies."""

    def __init__(self, commands: WsiCommandSet = DEFAULT_COMMANDS) -> None:
        super().__init__()
        self.commands = commands

    def send(self, event: Ack | Nak | DataReply) -> bytes:
        if isinstance(event, DataReply):
            if any(b in (STX, ETX) for b in event.payload):
                raise ValueError("data reply must not contain STX or ETX")
            return bytes([STX]) + event.payload + bytes([ETX])
        mark = b"$" if isinstance(event, Ack) else b"!"
        return mark + f"{event.checksum & 0xFF:02X}".encode("ascii")

    def next_event(self) -> Command | NeedData:
        buf = self._buf
        while buf:
            if buf[0] != STX:
                self._drop(1)
                self.skipped += 1
                continue
            start = self._offset
            payload = self._frame()
            if payload is NEED_DATA:
                return NEED_DATA
            if not payload:
                raise WsiProtocolError(start, "empty packet (no type)")
            text = payload.decode("latin-1")
            code = next((c for c in self.commands.all() if text.startswith(c)), None)
            if code is None:  # unknown type: the printer must still answer, with a NAK
                code = text[:1]
            return Command(code, payload[len(code) :])
        return NEED_DATA
