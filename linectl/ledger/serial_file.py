"""Reading a file of serials (one per line) for ``serials import``, with bounded memory.

The file is read a line at a time with a cap on each line and on the number of lines, so
``/dev/zero`` or a 10 MB line gives a clear error with the line number and a short excerpt,
never a MemoryError or the whole line echoed. UTF-8, with or without a BOM (Windows editors
write one); a CR before the newline is dropped.
"""

from __future__ import annotations

import os

from linectl.ledger.errors import LedgerError, clipped

MAX_LINE_BYTES = 256
"""A serial is at most 20 characters; a longer line is not a list of serials."""

MAX_LINES = 2_000_000
"""Serials per import file; split a larger pool into several files."""


class SerialFileError(LedgerError):
    """The serial file cannot be used; the message names the file and the line."""


def read_serial_file(path: str | os.PathLike[str]) -> list[str]:
    """The file's lines, each stripped of its line end; SerialFileError naming where it fails."""
    name = os.fspath(path)
    lines: list[str] = []
    try:
        with open(name, "rb") as file:
            while True:
                raw = file.readline(MAX_LINE_BYTES + 1)
                if not raw:
                    return lines
                number = len(lines) + 1
                if len(raw) > MAX_LINE_BYTES and not raw.endswith(b"\n"):
                    raise SerialFileError(
                        f"serial file {name}: line {number} is longer than {MAX_LINE_BYTES} "
                        f"bytes (it starts {raw[:16]!r}...): expected one serial per line"
                    )
                if number > MAX_LINES:
                    raise SerialFileError(
                        f"serial file {name}: more than {MAX_LINES:,} lines: split it into "
                        "several imports"
                    )
                if number == 1:
                    raw = raw.removeprefix(b"\xef\xbb\xbf")
                lines.append(_decode(name, number, raw.rstrip(b"\n").removesuffix(b"\r")))
    except OSError as exc:
        raise SerialFileError(f"cannot read serial file {name}: {exc.strerror}") from None


def _decode(name: str, number: int, raw: bytes) -> str:
    if raw[:2] in (b"\xff\xfe", b"\xfe\xff") or b"\x00" in raw:
        raise SerialFileError(
            f"serial file {name}: line {number} holds NUL bytes (UTF-16 or binary?): save the "
            "file as UTF-8 text"
        )
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise SerialFileError(
            f"serial file {name}: line {number}, byte {exc.start + 1}: not UTF-8 "
            f"({clipped(raw)}): save the file as UTF-8 text"
        ) from None
