"""Reading what a code reader or camera returns: element strings, HRI and Digital Link URIs.

Accepted input (a trailing CR/LF from a reader is dropped, nothing else is stripped):

- an element string as a reader transmits it: optional symbology identifier (``]d2``,
  ``]Q3``, ``]C1``...), then AIs and values with ASCII GS (0x1D) ending variable-length
  fields, e.g. ``]d2010950600013435217261231`` ``10LOT1<GS>21SN1`` (one string);
- bracketed HRI ``(01)09506000134352(17)261231(10)LOT1(21)SN1``;
- a GS1 Digital Link URI on any domain, e.g.
  ``https://id.gs1.org/01/09506000134352/10/LOT1/21/SN1?17=261231``.

Offsets in errors are 0-based positions in the string given to :func:`parse_scan`.

biip does the symbology identifiers, knows every GS1 AI beyond linectl's table and checks
Digital Link structure. Where it is too lenient for a verifier, linectl splits and checks
itself: it never strips whitespace, a variable-length field runs to the GS or the end (an
over-long lot is an error, not a lot plus a phantom AI), a bad check digit is an error, an
HRI value with ``(`` or a space is not silently cut, and in a Digital Link ``+`` is a plus
(RFC 3986, not form encoding), a malformed ``%`` escape, an empty AI value or a repeated AI
with another value is an error, and a URI character that must be percent-encoded is refused.
HRI limitation: a value containing ``(NN)`` where NN is a GS1 AI cannot be told from an AI
marker; such values are read wrongly or refused, so verification should read element strings.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Literal

from biip.symbology import SymbologyIdentifier

from standards.gs1.ai import AI_TABLE, GS, AiSpec, validate_value
from standards.gs1.ai_registry import BIIP_ERRORS, Field, check_other_ai, is_known_ai, lookup_ai
from standards.gs1.digital_link_scan import split_digital_link
from standards.gs1.elements import ProductCode
from standards.gs1.errors import (
    LengthError,
    MissingAiError,
    ScanSyntaxError,
    describe,
)

ScanKind = Literal["element_string", "hri", "digital_link"]

SYMBOLOGY_NAMES: dict[str, str] = {
    "d": "DataMatrix",
    "Q": "QR",
    "C": "Code128",
    "e": "DataBar",
    "J": "DotCode",
    "E": "EAN/UPC",
    "I": "ITF",
    "z": "Aztec",
    "L": "PDF417",
}
"""Names for the ISO/IEC 15424 symbology code letters linectl meets."""

GS1_MESSAGE_SYMBOLOGIES = frozenset({"]d2", "]Q3", "]C1", "]e0", "]J1"})
"""Symbology identifiers that announce GS1 element strings (FNC1 in first position)."""

_SYMBOLOGY_ID = re.compile(r"\][A-XZa-z][0-9A-Za-z]")
_HRI_AI = re.compile(r"\((\d{2,4})\)")


@dataclass(frozen=True)
class ScanResult:
    """One decoded symbol: where it came from and its AIs, in the order they were read."""

    data: str
    """The scan as given, less a trailing CR/LF."""
    kind: ScanKind
    symbology: str | None
    """"DataMatrix", "QR"... from the symbology identifier; None when there was none."""
    symbology_identifier: str | None
    """The identifier itself, e.g. "]d2"."""
    ai: Mapping[str, str]
    """AI -> value, read-only, in reading order."""

    @property
    def gtin(self) -> str | None:
        return self.ai.get("01")

    @property
    def expiry(self) -> str | None:
        return self.ai.get("17")

    @property
    def lot(self) -> str | None:
        return self.ai.get("10")

    @property
    def serial(self) -> str | None:
        return self.ai.get("21")

    @property
    def sscc(self) -> str | None:
        return self.ai.get("00")

    def product_code(self, *, allow_day_zero: bool = False) -> ProductCode:
        """The scanned (01) (17) (10) (21) as a ProductCode; MissingAiError when one is absent."""
        missing = [ai for ai in ("01", "17", "10", "21") if ai not in self.ai]
        if missing:
            names = " ".join(f"({ai})" for ai in missing)
            raise MissingAiError(f"scan has no {names}: not a product code", ai=missing[0])
        return ProductCode(
            self.ai["01"],
            self.ai["17"],
            self.ai["10"],
            self.ai["21"],
            allow_day_zero=allow_day_zero,
        )


def parse_scan(data: str) -> ScanResult:
    """Parse scanned data into AIs; any bad input raises a Gs1Error naming AI and offset."""
    text = data.rstrip("\r\n")
    if not text:
        raise ScanSyntaxError("scan is empty")
    identifier, name = _symbology(text)
    start = len(identifier) if identifier else 0
    payload = text[start:]
    if not payload:
        raise ScanSyntaxError(f"no data after symbology identifier {identifier!r}", offset=start)
    kind: ScanKind
    if payload[:8].lower().startswith(("http://", "https://")):
        kind, fields = "digital_link", split_digital_link(payload, base=start)
    else:
        if identifier is not None and identifier not in GS1_MESSAGE_SYMBOLOGIES:
            raise ScanSyntaxError(
                f"symbology identifier {identifier!r} does not announce GS1 data (no FNC1 in "
                f"first position; GS1 ones: {', '.join(sorted(GS1_MESSAGE_SYMBOLOGIES))})",
                offset=0,
            )
        if payload.startswith("("):
            kind, fields = "hri", _split_hri(payload, start)
        else:
            kind, fields = "element_string", _split_element_string(payload, start)
    return ScanResult(text, kind, name, identifier, MappingProxyType(_collect(fields)))


def _symbology(text: str) -> tuple[str | None, str | None]:
    """The symbology identifier at the start of ``text`` and its name, or (None, None)."""
    if not text.startswith("]"):
        return None, None
    if _SYMBOLOGY_ID.match(text) is None:
        raise ScanSyntaxError(
            f"symbology identifier {text[:3]!r} at offset 0: expected ']', a code letter "
            "and a modifier character",
            offset=0,
        )
    try:
        found = SymbologyIdentifier.extract(text)
    except BIIP_ERRORS as exc:
        raise ScanSyntaxError(f"symbology identifier {text[:3]!r} at offset 0: {exc}") from exc
    letter = found.iso_symbology.value
    return found.value, SYMBOLOGY_NAMES.get(letter, found.iso_symbology.name)


def _collect(fields: list[Field]) -> dict[str, str]:
    """AI -> value in reading order; an AI repeated with another value is an error."""
    result: dict[str, str] = {}
    for ai, value, offset in fields:
        if ai in result and result[ai] != value:
            where = f" at offset {offset}" if offset is not None else ""
            raise ScanSyntaxError(
                f"AI ({ai}) appears twice with different values {result[ai]!r} and "
                f"{value!r}{where}",
                ai=ai,
                value=value,
                offset=offset,
            )
        result.setdefault(ai, value)
    return result


def _split_element_string(payload: str, base: int) -> list[Field]:
    """AIs of a GS-separated element string, each value checked where it starts."""
    if payload.startswith(GS):
        raise ScanSyntaxError(
            f"separator (GS) at offset {base}: an element string cannot start with one",
            offset=base,
        )
    fields: list[Field] = []
    index, end_of_data = 0, len(payload)
    while index < end_of_data:
        found = lookup_ai(payload[index:], base + index)
        code = found.ai
        start = index + len(code)
        separator = payload.find(GS, start)
        stop = end_of_data if separator < 0 else separator
        if isinstance(found, AiSpec):
            end = start + found.max_length if found.predefined_length else stop
            value = payload[start:end]
            if end > stop:
                cut = "a separator (GS)" if separator >= 0 else "the end of the data"
                raise LengthError(
                    f"{describe(code, found.name, payload[start:stop], base + start)}: cut off "
                    f"by {cut} after {stop - start} of {found.max_length} characters",
                    ai=code,
                    value=payload[start:stop],
                    offset=base + start,
                )
            validate_value(found, value, offset=base + start)
        else:
            whole = found.separator_required
            code, value = check_other_ai(payload[index:stop], offset=base + index, whole=whole)
            end = start + len(value)
        fields.append((code, value, base + start))
        index = end
        if index < end_of_data and payload[index] == GS:
            index += 1
            if index < end_of_data and payload[index] == GS:
                raise ScanSyntaxError(
                    f"two separators (GS) in a row at offset {base + index - 1}",
                    offset=base + index - 1,
                )
    return fields


def _split_hri(payload: str, base: int) -> list[Field]:
    """AIs of bracketed HRI: "(AI)value" repeated; "(NN)" with NN a GS1 AI marks an AI."""
    markers = [m for m in _HRI_AI.finditer(payload) if is_known_ai(m.group(1))]
    if not markers or markers[0].start() != 0:
        raise ScanSyntaxError(
            f"HRI at offset {base}: must start with a GS1 AI in parentheses such as '(01)'",
            offset=base,
        )
    fields: list[Field] = []
    for number, marker in enumerate(markers):
        code = marker.group(1)
        stop = markers[number + 1].start() if number + 1 < len(markers) else len(payload)
        value = payload[marker.end() : stop]
        spec = AI_TABLE.get(code)
        if spec is not None:
            validate_value(spec, value, offset=base + marker.end())
        else:
            code, value = check_other_ai(
                code + value, offset=base + marker.end() - len(code), whole=True
            )
        fields.append((code, value, base + marker.end()))
    return fields
