"""Every GS1 AI a scan may hold: linectl's table first, biip's full AI list for the rest."""

from __future__ import annotations

from biip import BiipException
from biip.gs1_application_identifiers import GS1ApplicationIdentifier
from biip.gs1_element_strings import GS1ElementString

from standards.gs1.ai import AI_TABLE, AiSpec
from standards.gs1.checkdigit import CheckDigitError
from standards.gs1.errors import ScanSyntaxError, UnknownAiError, describe

BIIP_ERRORS = (BiipException, ValueError, IndexError, KeyError, ArithmeticError)
"""What biip may raise on bad input; linectl turns each into a Gs1Error."""

Field = tuple[str, str, int | None]
"""(AI, value, offset of the value in the scan, or None where offsets mean nothing)."""


def lookup_ai(text: str, offset: int) -> AiSpec | GS1ApplicationIdentifier:
    """The AI that ``text`` starts with (AIs are prefix-free), or UnknownAiError."""
    for size in (2, 3, 4):
        spec = AI_TABLE.get(text[:size])
        if spec is not None:
            return spec
    try:
        return GS1ApplicationIdentifier.extract(text)
    except BIIP_ERRORS:
        raise UnknownAiError(
            f"no GS1 Application Identifier at offset {offset}: data there starts {text[:4]!r}",
            offset=offset,
        ) from None


def is_known_ai(digits: str) -> bool:
    """True when ``digits`` is exactly a GS1 AI."""
    if digits in AI_TABLE:
        return True
    try:
        return bool(GS1ApplicationIdentifier.extract(digits).ai == digits)
    except BIIP_ERRORS:
        return False


def check_other_ai(text: str, *, offset: int, whole: bool) -> tuple[str, str]:
    """(AI, value) of an AI outside linectl's table, checked by biip; ``offset`` is the AI's.

    ``whole``: ``text`` must be exactly one element string; otherwise its first element
    string is taken (predefined-length AIs). A key with a bad check digit (biip only notes
    it) is a CheckDigitError.
    """
    try:
        element = GS1ElementString.parse(text) if whole else GS1ElementString.extract(text)
    except BIIP_ERRORS as exc:
        code = lookup_ai(text, offset).ai
        raise ScanSyntaxError(
            f"AI ({code}) {text[len(code) :]!r} at offset {offset}: {exc}",
            ai=code,
            value=text[len(code) :],
            offset=offset,
        ) from exc
    ai, value = element.ai.ai, element.value
    for problem in (element.gtin_error, element.gln_error, element.sscc_error):
        if problem:
            raise CheckDigitError(
                f"{describe(ai, element.ai.data_title, value, offset + len(ai))}: {problem}",
                ai=ai,
                value=value,
                offset=offset + len(ai),
            )
    return ai, value
