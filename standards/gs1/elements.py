"""What linectl marks on a pack: GTIN, expiry, lot and serial, and their GS1 element string.

Representation of the element string (what :func:`element_string` returns): the data of a
GS1 DataMatrix *without* the leading FNC1 (that FNC1 is what makes the symbol GS1; the
symbol encoder adds it) and with ASCII GS (0x1D) standing for each FNC1 that ends a
variable-length field. That is exactly what a reader transmits after the ``]d2`` symbology
identifier, so ``parse_scan("]d2" + element_string(code))`` reads the code back.

Encoders: zxing-cpp 3.1 ``create_barcode(text, BarcodeFormat.DataMatrix, gs1=True)`` (zint
backend) does not take this form (it refuses control characters such as GS); it takes AI
strings with bracketed AIs, ``(01)...`` or ``[01]...``, and inserts FNC1 itself. A ``(`` or
``)`` in a value must then be escaped, so :func:`bracketed` (square brackets, which CSET 82
does not contain) is the unambiguous input for it.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass, field

from standards.gs1.ai import GS, spec_for, validate_value
from standards.gs1.dates import format_yymmdd, parse_yymmdd
from standards.gs1.errors import Gs1Error


@dataclass(frozen=True)
class ProductCode:
    """GTIN (14 digits), expiry (YYMMDD text, as encoded), lot and serial of one pack.

    ``expiry`` stays the YYMMDD string that is printed and scanned, so comparing a scan
    with what was sent is a plain string comparison; :meth:`expiry_date` gives the date.
    Every field is validated on construction (GS1Error naming the AI and value). Day 00
    ("no day given") is refused unless ``allow_day_zero=True``, which is kept with the code
    but takes no part in equality.
    """

    gtin: str
    expiry: str
    lot: str
    serial: str
    allow_day_zero: bool = field(default=False, kw_only=True, compare=False, repr=False)

    def __post_init__(self) -> None:
        validate_value("01", self.gtin)
        validate_value("17", self.expiry, allow_day_zero=self.allow_day_zero)
        validate_value("10", self.lot)
        validate_value("21", self.serial)

    @classmethod
    def create(
        cls,
        gtin: str,
        expiry: str | dt.date,
        lot: str,
        serial: str,
        *,
        allow_day_zero: bool = False,
    ) -> ProductCode:
        """A validated code from looser input: GTIN-8/12/13 padded to 14, expiry as a date."""
        if gtin.isascii() and gtin.isdigit() and len(gtin) in (8, 12, 13):
            gtin = gtin.zfill(14)
        if isinstance(expiry, dt.date):
            expiry = format_yymmdd(expiry)
        return cls(gtin, expiry, lot, serial, allow_day_zero=allow_day_zero)

    def expiry_date(self, today: dt.date | None = None) -> dt.date:
        """The expiry as a date (GS1 century rule; day 00 is the last day of the month)."""
        return parse_yymmdd(self.expiry, allow_day_zero=True, today=today)

    def elements(self) -> tuple[tuple[str, str], ...]:
        """(AI, value) pairs in marking order: (01) (17) (10) (21)."""
        return (("01", self.gtin), ("17", self.expiry), ("10", self.lot), ("21", self.serial))


def build_element_string(elements: Iterable[tuple[str, str]]) -> str:
    """A GS1 element string (no leading FNC1) from (AI, value) pairs of AIs in the table.

    Predefined-length AIs come first and variable-length ones after (each group in the
    given order), so as few separators as possible are needed; a GS follows every
    variable-length field except the last one (the Syntax Dictionary's ``*`` flag marks the
    predefined-length AIs that need none).
    """
    pairs = [(ai, validate_value(ai, value)) for ai, value in elements]
    seen: set[str] = set()
    for ai, value in pairs:
        if ai in seen:
            raise Gs1Error(f"AI ({ai}) {value!r}: the AI is given twice", ai=ai, value=value)
        seen.add(ai)
    ordered = [p for p in pairs if spec_for(p[0]).predefined_length]
    ordered += [p for p in pairs if not spec_for(p[0]).predefined_length]
    parts: list[str] = []
    for index, (ai, value) in enumerate(ordered):
        parts.append(ai + value)
        if spec_for(ai).needs_separator and index < len(ordered) - 1:
            parts.append(GS)
    return "".join(parts)


def element_string(code: ProductCode) -> str:
    """The GS1 DataMatrix data for ``code``: ``01…17…10…`` GS ``21…`` (no leading FNC1)."""
    return build_element_string(code.elements())


def hri(code: ProductCode) -> str:
    """The human readable interpretation printed beside the symbol: ``(01)…(17)…(10)…(21)…``."""
    return "".join(f"({ai}){value}" for ai, value in code.elements())


def bracketed(code: ProductCode) -> str:
    """``[01]…[17]…[10]…[21]…``: AI-bracketed input for GS1 encoders, unambiguous for CSET 82."""
    return "".join(f"[{ai}]{value}" for ai, value in code.elements())
