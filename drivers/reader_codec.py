"""What the smart-reader codecs (Cognex DMCC, Keyence SR) share: NEED_DATA, the read they report,
AIM symbology identifiers and ISO/IEC 15415 grades. Pure: no sockets, no asyncio, no clocks.

Read text in linectl's form: a GS1 element string without the leading FNC1, with ASCII GS (0x1D)
after each variable-length field that is not last. That is what a reader transmits for GS1 data:
ISO/IEC 16022 section 5.2.4.6 says an FNC1 in the first (or second) symbol character position
flags the industry format (the reader reports it through the symbology identifier, ``]d2`` for
GS1 DataMatrix) and an FNC1 anywhere else is transmitted as GS. Readers prefix the identifier when
their "symbology identifier" output option is on; linectl expects it on so GS1 data is recognisable.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Final

from drivers.interfaces import ProtocolError, ReadResult
from drivers.sansio import NEED_DATA as NEED_DATA  # the readers' codecs and tests take it here


class ReaderProtocolError(ProtocolError):
    """Bytes from or to a code reader that break its protocol; names the stream offset."""

    def __init__(self, protocol: str, offset: int, expected: str, got: bytes) -> None:
        self.protocol = protocol
        self.offset = offset
        self.expected = expected
        self.got = got
        shown = got if len(got) <= 40 else got[:40] + b"..."
        super().__init__(f"{protocol}: at byte {offset}: expected {expected}, got {shown!r}")


# AIM symbology identifiers (ISO/IEC 15424) a packaging line meets, and linectl's names for them.
SYMBOLOGY_IDS: Final[dict[str, str]] = {
    "]d1": "datamatrix",  # ECC 200
    "]d2": "gs1-datamatrix",  # ECC 200, FNC1 in first position
    "]Q1": "qr",  # QR Code model 2
    "]Q3": "gs1-qr",  # QR Code model 2, FNC1 in first position
    "]C0": "code128",
    "]C1": "gs1-128",  # Code 128, FNC1 in first position
    "]e0": "gs1-databar",
}

_SYMBOLOGY_ID = re.compile(r"\][A-Za-z][0-9A-Za-z]")
_NUMERIC_GRADE = re.compile(r"[0-4](?:\.[0-9]+)?")
LETTER_GRADES: Final = "ABCDF"


def split_symbology_id(text: str) -> tuple[str | None, str]:
    """Split a leading AIM symbology identifier (``]d2``) off read text: (identifier, data)."""
    if _SYMBOLOGY_ID.match(text):
        return text[:3], text[3:]
    return None, text


def grade_letter(raw: str) -> str | None:
    """ISO/IEC 15415 grade letter for a reported grade (letter A-F or number 0-4), else None.

    Numbers map as ISO/IEC 15415 section 5.2 bands them: A >= 3.5, B >= 2.5, C >= 1.5,
    D >= 0.5, F below (there is no E).
    """
    raw = raw.strip()
    if len(raw) == 1 and raw.upper() in LETTER_GRADES:
        return raw.upper()
    if _NUMERIC_GRADE.fullmatch(raw) and float(raw) <= 4.0:
        value = float(raw)
        for letter, floor in zip("ABCD", (3.5, 2.5, 1.5, 0.5), strict=True):
            if value >= floor:
                return letter
        return "F"
    return None


@dataclass(frozen=True, slots=True)
class CodeRead:
    """One read as a reader reports it: data (None on a no-read), identifier and grade."""

    text: str | None
    symbology_id: str | None = None
    grade: str | None = None  # ISO/IEC 15415 overall grade letter
    grade_raw: str | None = None  # the grade field exactly as transmitted
    extra: tuple[str, ...] = field(default=())  # further appended fields, as transmitted

    def to_result(self, seq: int | None = None) -> ReadResult:
        """The driver-level result; the symbology is named from the identifier when known."""
        detail: dict[str, str] = {}
        if self.symbology_id is not None:
            detail["symbology_id"] = self.symbology_id
        if self.grade_raw is not None:
            detail["grade_raw"] = self.grade_raw
        if self.extra:
            detail["extra"] = "|".join(self.extra)
        symbology = None if self.symbology_id is None else SYMBOLOGY_IDS.get(self.symbology_id)
        return ReadResult(
            text=self.text, symbology=symbology, grade=self.grade, seq=seq, detail=detail
        )


def parse_read_text(text: str, *, separator: str | None, no_read: str) -> CodeRead:
    """Interpret one reported read: ``[identifier]data[<separator>grade[/details...]]``.

    The grade is the LAST ``separator``-delimited field, so data may itself contain the separator
    (':' and ',' are both in the GS1 character set). A trailing field that is not a grade leaves
    the text whole with no grade. ``no_read`` (alone or followed by appended fields) is a no-read.
    """
    if text == no_read or (separator is not None and text.startswith(no_read + separator)):
        return CodeRead(text=None)
    body, grade, grade_raw = text, None, None
    extra: tuple[str, ...] = ()
    if separator is not None:
        head, sep, tail = text.rpartition(separator)
        if sep:
            first, *details = tail.split("/")
            letter = grade_letter(first)
            if letter is not None:
                body, grade, grade_raw, extra = head, letter, tail, tuple(details)
    symbology_id, data = split_symbology_id(body)
    return CodeRead(
        text=data, symbology_id=symbology_id, grade=grade, grade_raw=grade_raw, extra=extra
    )


def format_read_text(read: CodeRead, *, separator: str | None, no_read: str) -> str:
    """Device side of :func:`parse_read_text`: the text a reader transmits for ``read``."""
    if read.text is None:
        return no_read
    out = (read.symbology_id or "") + read.text
    if separator is not None and read.grade is not None:
        out += separator + (read.grade_raw or read.grade)
    return out
