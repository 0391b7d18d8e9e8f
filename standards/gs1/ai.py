"""The GS1 Application Identifiers linectl writes and checks, as facts from the Syntax Dictionary.

The table is embedded (runtime code never reads the standards directory);
tests/standards/gs1/test_ai_table.py checks every row against the GS1 Barcode Syntax Dictionary.
Of the dictionary's linters, linectl enforces ``csum`` (check digit) and ``yymmd0`` (date,
day 00 allowed); ``gcppos2`` (GS1 Company Prefix position) needs the GCP length table and is
recorded here but not checked.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Literal

from standards.gs1.checkdigit import CheckDigitError, check_digit
from standards.gs1.cset82 import char_label, check_cset82
from standards.gs1.dates import parse_yymmdd
from standards.gs1.errors import CharsetError, LengthError, UnknownAiError, describe

Charset = Literal["N", "X"]
"""N: digits 0-9. X: GS1 AI encodable character set 82."""


@dataclass(frozen=True)
class AiSpec:
    """One AI: its data field format and whether an FNC1/GS must follow it."""

    ai: str
    name: str
    """linectl's name for the field, used in error messages (GTIN, expiry, lot...)."""
    title: str
    """The data title in the Syntax Dictionary."""
    charset: Charset
    min_length: int
    max_length: int
    linters: tuple[str, ...]
    """The dictionary's content checks for the field, e.g. ("csum", "gcppos2")."""
    predefined_length: bool
    """Dictionary flag ``*``: a predefined-length AI, no FNC1 separator needed after it."""
    dl_attribute: bool
    """Dictionary flag ``?``: allowed as a GS1 Digital Link data attribute (query string)."""

    @property
    def fixed_length(self) -> bool:
        """True when the field always has exactly ``max_length`` characters."""
        return self.min_length == self.max_length

    @property
    def has_check_digit(self) -> bool:
        """True when the last digit is a GS1 modulo-10 check digit."""
        return "csum" in self.linters

    @property
    def is_date(self) -> bool:
        """True for a YYMMDD date field."""
        return "yymmd0" in self.linters or "yymmdd" in self.linters

    @property
    def needs_separator(self) -> bool:
        """True when a GS (FNC1) must end the field unless it is the last in the symbol."""
        return not self.predefined_length

    def spec(self) -> str:
        """The field in Syntax Dictionary notation, e.g. ``N14,csum,gcppos2`` or ``X..20``."""
        length = str(self.max_length) if self.fixed_length else f"..{self.max_length}"
        return ",".join((f"{self.charset}{length}", *self.linters))

    def flags(self) -> str:
        """The dictionary flags column for this AI (``*``, ``?``, ``*?`` or empty)."""
        return ("*" if self.predefined_length else "") + ("?" if self.dl_attribute else "")


AI_TABLE: dict[str, AiSpec] = {
    spec.ai: spec
    for spec in (
        AiSpec("00", "SSCC", "SSCC", "N", 18, 18, ("csum", "gcppos2"), True, True),
        AiSpec("01", "GTIN", "GTIN", "N", 14, 14, ("csum", "gcppos2"), True, True),
        AiSpec("10", "lot", "BATCH/LOT", "X", 1, 20, (), False, True),
        AiSpec("17", "expiry", "USE BY or EXPIRY", "N", 6, 6, ("yymmd0",), True, True),
        AiSpec("21", "serial", "SERIAL", "X", 1, 20, (), False, False),
        AiSpec("710", "national number (PZN)", "NHRN PZN", "X", 1, 20, (), False, True),
        AiSpec("711", "national number (CIP)", "NHRN CIP", "X", 1, 20, (), False, True),
        AiSpec("712", "national number (CN)", "NHRN CN", "X", 1, 20, (), False, True),
        AiSpec("713", "national number (DRN)", "NHRN DRN", "X", 1, 20, (), False, True),
        AiSpec("714", "national number (AIM)", "NHRN AIM", "X", 1, 20, (), False, True),
        AiSpec("715", "national number (NDC)", "NHRN NDC", "X", 1, 20, (), False, True),
        AiSpec("716", "national number (AIC)", "NHRN AIC", "X", 1, 20, (), False, True),
        AiSpec("717", "national number (SRN)", "NHRN SRN", "X", 1, 20, (), False, True),
    )
}
"""The AIs linectl writes and reads, by AI; 710-717 are the national healthcare reimbursement
numbers (NHRN) a market code profile may add (PZN, CIP, CN, DRN, AIM, NDC, AIC, SRN)."""

NHRN_AIS: frozenset[str] = frozenset({"710", "711", "712", "713", "714", "715", "716", "717"})
"""The national healthcare reimbursement number AIs (dictionary titles ``NHRN ...``)."""

DL_PRIMARY_KEYS: frozenset[str] = frozenset(
    {"00", "01", "253", "255", "401", "402", "414", "415", "417"}
    | {"8003", "8004", "8006", "8010", "8013", "8017", "8018"}
)
"""AIs that may open a GS1 Digital Link URI path (dictionary attribute ``dlpkey``)."""

GS = "\x1d"
"""ASCII group separator: how a reader transmits an FNC1 that ends a variable-length field."""


def spec_for(ai: str) -> AiSpec:
    """The table row for ``ai``, or UnknownAiError when linectl does not handle that AI."""
    try:
        return AI_TABLE[ai]
    except KeyError:
        known = ", ".join(f"({code})" for code in AI_TABLE)
        raise UnknownAiError(f"AI ({ai}): not one linectl handles ({known})", ai=ai) from None


def validate_value(
    ai: str | AiSpec,
    value: str,
    *,
    offset: int | None = None,
    allow_day_zero: bool = True,
    today: dt.date | None = None,
) -> str:
    """Return ``value`` when it is a valid data field for ``ai``, else raise a Gs1Error.

    Checks charset, length, check digit and date as the table says. ``offset`` (where the
    value starts in scanned data) is added to messages. Day 00 in a date follows GS1
    (``yymmd0`` allows it) unless ``allow_day_zero`` is False.
    """
    spec = ai if isinstance(ai, AiSpec) else spec_for(ai)
    if spec.charset == "X":
        return check_cset82(
            value, ai=spec.ai, name=spec.name, max_length=spec.max_length, offset=offset
        )
    head = describe(spec.ai, spec.name, value, offset)
    for index, char in enumerate(value):
        if not ("0" <= char <= "9"):
            where = f" (offset {offset + index})" if offset is not None else ""
            raise CharsetError(
                f"{head}: character {char_label(char)} at index {index}{where} is not a digit",
                char=char,
                index=index,
                ai=spec.ai,
                value=value,
                offset=None if offset is None else offset + index,
            )
    if not spec.min_length <= len(value) <= spec.max_length:
        wanted = (
            f"exactly {spec.max_length}"
            if spec.fixed_length
            else f"{spec.min_length} to {spec.max_length}"
        )
        raise LengthError(
            f"{head}: {len(value)} digits, needs {wanted}", ai=spec.ai, value=value, offset=offset
        )
    if spec.has_check_digit:
        expected = check_digit(value[:-1])
        if value[-1] != expected:
            raise CheckDigitError(
                f"{head}: check digit is {value[-1]}, expected {expected}",
                ai=spec.ai,
                value=value,
                offset=offset,
            )
    if spec.is_date:
        parse_yymmdd(
            value,
            ai=spec.ai,
            name=spec.name,
            allow_day_zero=allow_day_zero and "yymmd0" in spec.linters,
            today=today,
            offset=offset,
        )
    return value
