"""Cognex DataMan Control Commands (DMCC) over a byte stream, both sides, sans-IO.

Facts from Cognex's *DataMan Communications and Programming Guide*, "DMCC Overview" / "Command
Syntax" / "Reader Response" (docs.cognex.com/dmst_2310 "DataMan Control Commands Overview";
manualslib copy of the guide, pages 18-19):

* A command is ``command-header command [arguments] footer``: header ``||checksum:command-id>``
  (``||>`` alone uses the defaults: no checksum, no id), footer CR LF. Example ``||>TRIGGER ON``.
  Command names and public parameters are case-insensitive; one command per header-footer block.
* ``SET COM.DMCC-RESPONSE 0`` (default, "Silent"): no response frames; invalid commands are
  ignored; command responses are plain text. ``SET COM.DMCC-RESPONSE 1`` ("Extended"): every
  response is a ``||checksum:command-id[status]`` header, data, footer block; the command-id sent
  is returned in the response header.
* Status: 0 no error; 1 reader initiated read-string; 100 unidentified error; 101 command invalid;
  102 parameter invalid; 103 checksum incorrect; 104 parameter rejected/altered due to reader state;
  105 reader unavailable.

What this module chooses (not fixed by the guide):

* A read result is a status-1 frame (``||[1]<read string>``), sent after the status-0
  acknowledgement of ``TRIGGER ON``; the read string is parsed by
  :func:`drivers.reader_codec.parse_read_text`.
* Checksum mode 1 ("last byte before footer is XOR of bytes") is not implemented: the guide does not
  say which bytes are XORed. linectl never asks for it, and a reader answers in the checksum mode of
  the command, so a checksum-1 frame is reported as a ProtocolError.
* Header options beyond checksum and command-id (a firmware answering ``||:::2[0]`` was seen in the
  wild) are tolerated and ignored; an empty field means "default".
* Payloads are decoded as Latin-1 (one byte, one character, lossless). ``||`` starts a new frame
  even inside an unfinished one (DMCC strings escape ``|``; GS1 data cannot hold it), so noise
  never swallows the next real frame.
"""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass
from typing import Final

from drivers.reader_codec import ReaderProtocolError
from drivers.sansio import NEED_DATA, NeedData

PROTOCOL: Final = "dmcc"
HEADER: Final = b"||"
FOOTER: Final = b"\r\n"
MAX_FRAME: Final = 64 * 1024  # bytes from header to footer; longer is noise, resynchronise


class Status(enum.IntEnum):
    """DMCC extended-response status codes (Cognex Communications and Programming Guide)."""

    NO_ERROR = 0
    READ_STRING = 1
    UNIDENTIFIED_ERROR = 100
    COMMAND_INVALID = 101
    PARAMETER_INVALID = 102
    CHECKSUM_INCORRECT = 103
    PARAMETER_REJECTED = 104
    READER_UNAVAILABLE = 105


STATUS_MEANINGS: Final[dict[int, str]] = {
    Status.NO_ERROR: "no error",
    Status.READ_STRING: "reader initiated read-string",
    Status.UNIDENTIFIED_ERROR: "unidentified error",
    Status.COMMAND_INVALID: "command invalid",
    Status.PARAMETER_INVALID: "parameter invalid",
    Status.CHECKSUM_INCORRECT: "checksum incorrect",
    Status.PARAMETER_REJECTED: "parameter rejected/altered due to reader state",
    Status.READER_UNAVAILABLE: "reader unavailable",
}


class DmccProtocolError(ReaderProtocolError):
    """Bytes that are not DMCC; the codec has already skipped them when this is raised."""

    def __init__(self, offset: int, expected: str, got: bytes) -> None:
        super().__init__(PROTOCOL, offset, expected, got)


@dataclass(frozen=True, slots=True)
class Command:
    """Host to reader: one DMCC command line, optionally tagged with a command id."""

    text: str
    command_id: int | None = None


@dataclass(frozen=True, slots=True)
class Response:
    """Reader to host: one extended-mode response frame."""

    status: int
    payload: str = ""
    command_id: int | None = None

    @property
    def meaning(self) -> str:
        """The guide's wording for the status code."""
        return STATUS_MEANINGS.get(self.status, f"unknown status {self.status}")


_RESPONSE = re.compile(rb"([0-9:]*)\[([0-9]{1,3})\](.*)", re.DOTALL)
_COMMAND = re.compile(rb"([0-9:]*)>(.*)", re.DOTALL)


def _check_line(text: str, what: str) -> bytes:
    """Encode ``text`` for the wire, refusing what would break the framing."""
    if "\r" in text or "\n" in text or "||" in text:
        raise ValueError(f"DMCC {what} must not contain CR, LF or '||': {text!r}")
    return text.encode("latin-1")


class _FrameScanner:
    """Finds ``||...\\r\\n`` frames in the buffered stream and skips anything between them."""

    def __init__(self) -> None:
        self._buffer = bytearray()
        self._offset = 0  # stream offset of _buffer[0]
        self._searched = 0  # no footer or inner header starts before this index (frame at 0)

    def receive_data(self, data: bytes) -> None:
        """Buffer bytes received from the peer (any split, any number of frames)."""
        self._buffer += data

    def _skip(self, count: int, expected: str) -> DmccProtocolError:
        error = DmccProtocolError(self._offset, expected, bytes(self._buffer[:count]))
        del self._buffer[:count]
        self._offset += count
        self._searched = 0
        return error

    def _next_frame(self) -> tuple[int, bytes] | NeedData:
        """(offset, bytes between header and footer) of the next whole frame, or NEED_DATA."""
        buf = self._buffer
        start = buf.find(HEADER)
        if start < 0:
            keep = 1 if buf.endswith(b"|") else 0  # may be the first half of a header
            if len(buf) > keep:
                raise self._skip(len(buf) - keep, "'||' (a DMCC header)")
            return NEED_DATA
        if start > 0:
            raise self._skip(start, "'||' (a DMCC header)")
        since = max(len(HEADER), self._searched - 1)  # a 2-byte marker may straddle the old end
        end = buf.find(FOOTER, since)
        restart = buf.find(HEADER, since)
        if restart >= 0 and (end < 0 or restart < end):
            raise self._skip(restart, "CR LF before the next '||' header")
        if end < 0:
            if len(buf) > MAX_FRAME:
                raise self._skip(len(buf), f"CR LF within {MAX_FRAME} bytes of a header")
            self._searched = len(buf)
            return NEED_DATA
        offset = self._offset
        frame = bytes(buf[len(HEADER) : end])
        del buf[: end + len(FOOTER)]
        self._offset += end + len(FOOTER)
        self._searched = 0
        return offset, frame

    @staticmethod
    def _header_options(options: bytes, offset: int) -> int | None:
        """The command id in ``checksum:command-id[:...]``; refuses checksum mode 1."""
        fields = options.split(b":")
        if fields[0] not in (b"", b"0"):
            raise DmccProtocolError(offset, "checksum mode 0 (mode 1 is not supported)", options)
        if len(fields) > 1 and fields[1]:
            if len(fields[1]) > 9:
                raise DmccProtocolError(offset, "a command id of at most 9 digits", options)
            return int(fields[1])
        return None


class DmccHost(_FrameScanner):
    """The host (linectl) side: sends commands, parses the reader's extended responses."""

    def send(self, command: Command) -> bytes:
        """Wire bytes for ``command``: ``||>TEXT\\r\\n`` or ``||0:ID>TEXT\\r\\n``."""
        header = b"||>" if command.command_id is None else f"||0:{command.command_id}>".encode()
        return header + _check_line(command.text, "command") + FOOTER

    def next_event(self) -> Response | NeedData:
        """The next response frame, NEED_DATA, or DmccProtocolError for skipped bytes."""
        found = self._next_frame()
        if found is NEED_DATA:
            return NEED_DATA
        offset, frame = found
        match = _RESPONSE.fullmatch(frame)
        if match is None:
            raise DmccProtocolError(offset, "'||[status]' (a DMCC response header)", frame)
        command_id = self._header_options(match[1], offset)
        return Response(int(match[2]), match[3].decode("latin-1"), command_id)


class DmccDevice(_FrameScanner):
    """The reader side (simulators): parses commands, sends responses in the current mode."""

    def __init__(self, *, extended: bool = False) -> None:
        super().__init__()
        self.extended = extended  # COM.DMCC-RESPONSE 1; a reader starts Silent (0)

    def next_event(self) -> Command | NeedData:
        """The next command, NEED_DATA, or DmccProtocolError for skipped bytes."""
        found = self._next_frame()
        if found is NEED_DATA:
            return NEED_DATA
        offset, frame = found
        match = _COMMAND.fullmatch(frame)
        if match is None:
            raise DmccProtocolError(offset, "'||>' (a DMCC command header)", frame)
        command_id = self._header_options(match[1], offset)
        return Command(match[2].decode("latin-1").strip(), command_id)

    def send(self, response: Response) -> bytes:
        """Extended: ``||[status]payload\\r\\n`` (``||0:ID[...]`` with an id). Silent: the bare
        payload and CR LF when there is one, nothing otherwise."""
        payload = _check_line(response.payload, "payload")
        if not self.extended:
            return payload + FOOTER if payload else b""
        options = "" if response.command_id is None else f"0:{response.command_id}"
        return f"||{options}[{response.status}]".encode() + payload + FOOTER
