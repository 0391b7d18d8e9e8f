"""Keyence SR-series code readers' command protocol over a byte stream, both sides, sans-IO.

Facts from the Keyence *SR-750 Series User's Manual* (section 8-1 "Details of Command
Communication", pages 71-72; "Appending Data", pages 64-66) and the SR-1000 command error list:

* Commands and replies are ASCII lines; this codec uses the "no header, CR terminator" form
  (the other, STX ... ETX, is not implemented). Timing ON ``LON``: reply ``OK,LON``, then the read
  result data as its own line. Timing OFF ``LOFF``: ``OK,LOFF``. A refused command:
  ``ER,<command>,<ee>`` with a two-digit error code (see ERROR_CODES).
* A failed read transmits the read-error string, ``ERROR`` by default.
* Appended data follows the read data, each field after a delimiter, ``:`` by default (one
  character, changeable). The symbol ID (AIM identifier) precedes the read data with no delimiter.
  Among the appendable fields is the ISO/IEC 15415 verification result; its grades are letters or
  numbers per the "Select expression of grades" setting (Alphabet / Numeric).

What this codec expects of the ISO/IEC 15415 field (the manual's exact layout of that field could
not be checked, so this is linectl's contract, documented in the README fragment): it is the LAST
appended field, and its first ``/``-separated token is the overall grade (``A``-``F`` or
``4``-``0``); further tokens (per-parameter details, when "Append details" is on) are kept raw.
Example with the identifier on, GS1 data and a grade: ``]d20109506000134352\\x1d21ABC:A`` CR.

Stream hygiene: a reply line holds printable ASCII plus the ISO/IEC 15434 separators EOT, FS, GS,
RS, US. Any other byte (line noise: NUL, 0xFF, ...) cannot be part of a reply, so everything up to
and including the last such byte in a line is skipped and reported as a ProtocolError; what
follows is parsed. An LF after the CR (a CR LF terminator setting) and empty lines are ignored.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Final

from drivers.reader_codec import (
    CodeRead,
    ReaderProtocolError,
    format_read_text,
    parse_read_text,
)
from drivers.sansio import NEED_DATA, NeedData

PROTOCOL: Final = "keyence"
TERMINATOR: Final = b"\r"
MAX_LINE: Final = 16 * 1024

# SR-1000 series command error codes (the ``ee`` of ``ER,<command>,<ee>``), as the SR-1000 user's
# manual lists them (quoted by public drivers; codes 00-05 also agree with Keyence's SR-X list).
ERROR_CODES: Final[dict[int, str]] = {
    0: "undefined command received",
    1: "mismatched command format (invalid number of parameters)",
    2: "the parameter 1 value exceeds the set value",
    3: "the parameter 2 value exceeds the set value",
    4: "parameter 2 is not set in HEX (hexadecimal) code",
    5: "parameter 2 set in HEX (hexadecimal) code but exceeds the set value",
    10: "there are 2 or more ! marks in the preset data; preset data is incorrect",
    11: "area specification data is incorrect",
    12: "specified file does not exist",
    13: '"mm" for the %Tmm-LON,bb command exceeds the setting range',
    14: "communication cannot be checked with the %Tmm-KEYENCE command",
    20: "this command is not executable in the current status (execution error)",
    21: "the buffer has overflowed, so commands cannot be executed",
    22: "an error occurred while loading or saving parameters, so commands cannot be executed",
    23: "commands cannot be received while AutoID Network Navigator is connected",
    99: "the reader may be faulty (contact KEYENCE)",
}

_NOISE = re.compile(rb"[^\x20-\x7e\x04\x1c-\x1f]")
_COMMAND_NAME = re.compile(r"[A-Z%][A-Z0-9%-]*")
_ERROR_REPLY = re.compile(r"ER,([^,]+),([0-9]{2})")


class KeyenceProtocolError(ReaderProtocolError):
    """Bytes that are not a Keyence reply or command; already skipped when this is raised."""

    def __init__(self, offset: int, expected: str, got: bytes) -> None:
        super().__init__(PROTOCOL, offset, expected, got)


@dataclass(frozen=True, slots=True)
class Command:
    """Host to reader: ``LON``, ``LOFF`` or another command with comma-separated parameters."""

    name: str
    params: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Ack:
    """``OK,<command>[,<values>...]``: the command was accepted."""

    command: str
    values: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class ErrorReply:
    """``ER,<command>,<ee>``: the command was refused with error code ``ee``."""

    command: str
    code: int

    @property
    def meaning(self) -> str:
        """The manual's wording for the error code."""
        return ERROR_CODES.get(self.code, f"unknown error code {self.code:02d}")


Reply = Ack | ErrorReply | CodeRead


class _LineScanner:
    """Splits the buffered stream into CR-terminated lines, skipping noise bytes."""

    def __init__(self) -> None:
        self._buffer = bytearray()
        self._offset = 0  # stream offset of _buffer[0]
        self._clean = 0  # _buffer[:_clean] holds no CR and no noise (searched already)

    def receive_data(self, data: bytes) -> None:
        """Buffer bytes received from the peer (any split, any number of lines)."""
        self._buffer += data

    def _skip(self, count: int, expected: str) -> KeyenceProtocolError:
        error = KeyenceProtocolError(self._offset, expected, bytes(self._buffer[:count]))
        del self._buffer[:count]
        self._offset += count
        self._clean = 0
        return error

    def _next_line(self) -> tuple[int, str] | NeedData:
        """(offset, text) of the next non-empty line, or NEED_DATA."""
        while True:
            buf = self._buffer
            end = buf.find(TERMINATOR, self._clean)
            stop = len(buf) if end < 0 else end
            last_bad = -1
            for match in _NOISE.finditer(buf, self._clean, stop):
                last_bad = match.start()
            if last_bad >= 0 and not (last_bad == 0 and buf[0] == 0x0A):
                raise self._skip(last_bad + 1, "printable ASCII or a separator (noise skipped)")
            if end < 0:
                if len(buf) > MAX_LINE:
                    raise self._skip(len(buf), f"CR within {MAX_LINE} bytes")
                self._clean = len(buf)
                return NEED_DATA
            start = 1 if buf[:1] == b"\n" else 0  # LF of a CR LF terminator
            offset = self._offset + start
            text = bytes(buf[start:end]).decode("ascii")
            del buf[: end + 1]
            self._offset += end + 1
            self._clean = 0
            if text:
                return offset, text


class KeyenceHost(_LineScanner):
    """The host (linectl) side: sends commands, parses acknowledgements, errors and reads.

    ``grades``: the reader appends the ISO/IEC 15415 verification result after ``delimiter``.
    ``no_read``: the read-error string configured in the reader.
    """

    def __init__(
        self, *, grades: bool = True, delimiter: str = ":", no_read: str = "ERROR"
    ) -> None:
        super().__init__()
        if len(delimiter) != 1:
            raise ValueError(f"the Keyence delimiter is one character, got {delimiter!r}")
        self.separator = delimiter if grades else None
        self.no_read = no_read

    def send(self, command: Command) -> bytes:
        """Wire bytes for ``command``: ``LON\\r``, ``LON,01\\r``..."""
        if not _COMMAND_NAME.fullmatch(command.name) or any(
            "," in p or "\r" in p for p in command.params
        ):
            raise ValueError(f"not a Keyence command: {command!r}")
        return ",".join((command.name, *command.params)).encode("ascii") + TERMINATOR

    def next_event(self) -> Reply | NeedData:
        """The next reply line, NEED_DATA, or KeyenceProtocolError for skipped bytes."""
        found = self._next_line()
        if found is NEED_DATA:
            return NEED_DATA
        offset, text = found
        if text.startswith("OK,"):
            command, *values = text[3:].split(",")
            if not command:
                raise KeyenceProtocolError(offset, "OK,<command>", text.encode())
            return Ack(command, tuple(values))
        if text.startswith("ER,"):
            match = _ERROR_REPLY.fullmatch(text)
            if match is None:
                raise KeyenceProtocolError(offset, "ER,<command>,<two digits>", text.encode())
            return ErrorReply(match[1], int(match[2]))
        return parse_read_text(text, separator=self.separator, no_read=self.no_read)


class KeyenceDevice(_LineScanner):
    """The reader side (simulators): parses commands, sends replies and reads."""

    def __init__(
        self, *, grades: bool = True, delimiter: str = ":", no_read: str = "ERROR"
    ) -> None:
        super().__init__()
        self.separator = delimiter if grades else None
        self.no_read = no_read

    def next_event(self) -> Command | NeedData:
        """The next command line, NEED_DATA, or KeyenceProtocolError for skipped bytes."""
        found = self._next_line()
        if found is NEED_DATA:
            return NEED_DATA
        offset, text = found
        name, *params = text.split(",")
        if not name:
            raise KeyenceProtocolError(offset, "a command name (LON, LOFF, ...)", text.encode())
        return Command(name, tuple(params))  # the reader answers ER,<name>,00 to unknown ones

    def send(self, reply: Reply) -> bytes:
        """Wire bytes for ``reply``: ``OK,LON\\r``, ``ER,LON,20\\r``, read text and CR."""
        if isinstance(reply, Ack):
            text = ",".join(("OK", reply.command, *reply.values))
        elif isinstance(reply, ErrorReply):
            text = f"ER,{reply.command},{reply.code:02d}"
        else:
            text = format_read_text(reply, separator=self.separator, no_read=self.no_read)
        data = text.encode("ascii")
        if _NOISE.search(data):
            raise ValueError(f"a Keyence reply holds printable ASCII and separators: {text!r}")
        return data + TERMINATOR
