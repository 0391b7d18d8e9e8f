"""EPC URNs and GS1 Digital Link URIs for the keys a line issues: SGTIN, SSCC, LGTIN, SGLN.

EPCIS events name objects either as EPC URNs (GS1 EPC Tag Data Standard, TDS) or as GS1 Digital
Link URIs; the line configuration chooses. A URN needs the GS1 company-prefix length (it puts a dot
after the prefix); a Digital Link does not, so URN -> DL needs no length and DL -> URN does.

Escaping, as TDS and RFC 3986 have it:
- URN: of the 82 characters of GS1 AI encodable character set 82, exactly ``" % & / < > ?`` are
  written as ``%22 %25 %26 %2F %3C %3E %3F``; all others stand for themselves.
- Digital Link path segment: everything except ``A-Z a-z 0-9 - . _ ~ ' ; =`` is percent-encoded
  (upper-case hex). This is the form the EPCIS event hash reference implementation produces when it
  turns an EPC URN into a canonical Digital Link, so an event hashes the same in either form.
"""

from __future__ import annotations

import enum
import string
from collections.abc import Callable
from typing import NamedTuple
from urllib.parse import urlsplit

from standards.gs1.checkdigit import (
    CheckDigitError,
    check_digit,
    validate_gln,
    validate_gtin14,
    validate_sscc,
)

CANONICAL_DL_DOMAIN = "https://id.gs1.org"

#: GS1 AI encodable character set 82 (GS1 General Specifications, figure 7.11-1).
CSET82 = frozenset(string.ascii_letters + string.digits + "!\"%&'()*+,-./:;<=>?_")

_URN_ESCAPES = {c: f"%{ord(c):02X}" for c in '"%&/<>?'}
_DL_LITERAL = frozenset(string.ascii_letters + string.digits + "-._~';=")
_URN_TABLE = str.maketrans(_URN_ESCAPES)
_HEX = frozenset(string.hexdigits)


class IdentifierForm(enum.StrEnum):
    """How identifiers are written in EPCIS events: EPC URN or GS1 Digital Link."""

    EPC_URN = "epc-urn"
    DIGITAL_LINK = "digital-link"


class IdentifierError(ValueError):
    """An EPC URN, a Digital Link or one of their parts is wrong; ``part`` names which part."""

    def __init__(self, part: str, value: str, reason: str) -> None:
        self.part = part
        self.value = value
        self.reason = reason
        super().__init__(f"{part} {value!r}: {reason}")


class UrnError(IdentifierError):
    """An EPC URN that cannot be parsed or converted."""


class DigitalLinkError(IdentifierError):
    """A GS1 Digital Link URI that cannot be parsed or converted."""


class Identifier(NamedTuple):
    """A line identifier apart from its notation: scheme, GS1 key and its qualifier.

    ``qualifier`` is the serial (sgtin), lot (lgtin), GLN extension (sgln, "0" = none) or "" (sscc).
    """

    scheme: str
    key: str
    qualifier: str


# ---------------------------------------------------------------------------------------------
# escaping


def urn_escape(value: str) -> str:
    """Write a CSET 82 value as it appears in an EPC URN (TDS escapes for ``" % & / < > ?``)."""
    return value.translate(_URN_TABLE)


def dl_encode(value: str) -> str:
    """Percent-encode a value for a Digital Link path segment (canonical, upper-case hex)."""
    if _DL_LITERAL.issuperset(value):  # nothing to encode (most serials)
        return value
    return "".join(
        c if c in _DL_LITERAL else "".join(f"%{b:02X}" for b in c.encode()) for c in value
    )


def percent_decode(text: str, part: str, error: type[IdentifierError] = IdentifierError) -> str:
    """Decode ``%XX`` escapes (UTF-8); a malformed ``%`` raises ``error`` naming ``part``."""
    if "%" not in text:
        return text
    out = bytearray()
    i = 0
    while i < len(text):
        c = text[i]
        if c == "%":
            pair = text[i + 1 : i + 3]
            if len(pair) != 2 or not set(pair) <= _HEX:
                raise error(part, text, f"malformed percent escape at offset {i}")
            out.append(int(pair, 16))
            i += 3
        else:
            out += c.encode()
            i += 1
    try:
        return out.decode()
    except UnicodeDecodeError as exc:
        raise error(part, text, "percent escapes are not UTF-8") from exc


def check_epc_value(value: str, part: str, max_len: int, error: type[IdentifierError]) -> str:
    """Return ``value`` when it has 1..max_len characters of CSET 82, else raise naming ``part``."""
    if not 1 <= len(value) <= max_len:
        raise error(part, value, f"must be 1 to {max_len} characters, got {len(value)}")
    bad = sorted(set(value) - CSET82)
    if bad:
        raise error(part, value, f"characters outside GS1 character set 82: {''.join(bad)!r}")
    return value


# ---------------------------------------------------------------------------------------------
# keys <-> URN fields


def _cp_length(length: int) -> int:
    if not isinstance(length, int) or not 6 <= length <= 12:
        raise IdentifierError("company prefix length", str(length), "must be 6 to 12")
    return length


def _key(validate: Callable[[str], str], key: str, part: str) -> str:
    try:
        return validate(key)
    except CheckDigitError as exc:
        raise IdentifierError(part, key, str(exc).rpartition(": ")[2]) from exc


def _digits(text: str, part: str, length: int, error: type[IdentifierError]) -> str:
    if len(text) != length or not (text.isascii() and (text.isdigit() or not length)):
        raise error(part, text, f"must be {length} digits")
    return text


def _domain(domain: str) -> str:
    scheme, _, rest = domain.partition("://")
    if scheme not in ("http", "https") or not rest or "/" in rest.rstrip("/"):
        raise DigitalLinkError("domain", domain, "must be like https://id.gs1.org")
    return domain.rstrip("/")


def sgtin_urn(gtin: str, serial: str, company_prefix_length: int) -> str:
    """``urn:epc:id:sgtin:CompanyPrefix.IndicatorItemRef.Serial`` for a GTIN and serial."""
    gtin = _key(validate_gtin14, gtin, "GTIN")
    cp = _cp_length(company_prefix_length)
    check_epc_value(serial, "serial", 20, IdentifierError)
    return f"urn:epc:id:sgtin:{gtin[1 : 1 + cp]}.{gtin[0]}{gtin[1 + cp : 13]}.{urn_escape(serial)}"


def sgtin_dl(gtin: str, serial: str, *, domain: str = CANONICAL_DL_DOMAIN) -> str:
    """``https://id.gs1.org/01/{GTIN-14}/21/{serial}`` for a GTIN and serial."""
    gtin = _key(validate_gtin14, gtin, "GTIN")
    check_epc_value(serial, "serial", 20, IdentifierError)
    return f"{_domain(domain)}/01/{gtin}/21/{dl_encode(serial)}"


def lgtin_urn(gtin: str, lot: str, company_prefix_length: int) -> str:
    """``urn:epc:class:lgtin:CompanyPrefix.IndicatorItemRef.Lot`` (the EPC class of a lot)."""
    gtin = _key(validate_gtin14, gtin, "GTIN")
    cp = _cp_length(company_prefix_length)
    check_epc_value(lot, "lot", 20, IdentifierError)
    return f"urn:epc:class:lgtin:{gtin[1 : 1 + cp]}.{gtin[0]}{gtin[1 + cp : 13]}.{urn_escape(lot)}"


def lgtin_dl(gtin: str, lot: str, *, domain: str = CANONICAL_DL_DOMAIN) -> str:
    """``https://id.gs1.org/01/{GTIN-14}/10/{lot}``."""
    gtin = _key(validate_gtin14, gtin, "GTIN")
    check_epc_value(lot, "lot", 20, IdentifierError)
    return f"{_domain(domain)}/01/{gtin}/10/{dl_encode(lot)}"


def sscc_urn(sscc: str, company_prefix_length: int) -> str:
    """``urn:epc:id:sscc:CompanyPrefix.ExtensionSerialRef`` for an 18-digit SSCC."""
    sscc = _key(validate_sscc, sscc, "SSCC")
    cp = _cp_length(company_prefix_length)
    return f"urn:epc:id:sscc:{sscc[1 : 1 + cp]}.{sscc[0]}{sscc[1 + cp : 17]}"


def sscc_dl(sscc: str, *, domain: str = CANONICAL_DL_DOMAIN) -> str:
    """``https://id.gs1.org/00/{SSCC}``."""
    return f"{_domain(domain)}/00/{_key(validate_sscc, sscc, 'SSCC')}"


def sgln_urn(gln: str, extension: str, company_prefix_length: int) -> str:
    """``urn:epc:id:sgln:CompanyPrefix.LocationRef.Extension``; extension "0" means none."""
    gln = _key(validate_gln, gln, "GLN")
    cp = _cp_length(company_prefix_length)
    check_epc_value(extension, "GLN extension", 20, IdentifierError)
    return f"urn:epc:id:sgln:{gln[:cp]}.{gln[cp:12]}.{urn_escape(extension)}"


def sgln_dl(gln: str, extension: str = "0", *, domain: str = CANONICAL_DL_DOMAIN) -> str:
    """``https://id.gs1.org/414/{GLN}`` plus ``/254/{extension}`` unless the extension is "0"."""
    gln = _key(validate_gln, gln, "GLN")
    check_epc_value(extension, "GLN extension", 20, IdentifierError)
    tail = "" if extension == "0" else f"/254/{dl_encode(extension)}"
    return f"{_domain(domain)}/414/{gln}{tail}"


# ---------------------------------------------------------------------------------------------
# parsing


def split_urn(urn: str) -> tuple[str, str, list[str], str]:
    """Split ``urn:epc:{id|class|idpat}:{scheme}:{body}`` into (kind, scheme, dot fields, raw)."""
    parts = urn.split(":", 4)
    if len(parts) != 5 or parts[0].lower() != "urn" or parts[1].lower() != "epc":
        raise UrnError("EPC URN", urn, "must start with urn:epc:")
    kind, scheme, body = parts[2], parts[3], parts[4]
    return kind, scheme, body.split("."), body


def _gtin_from_fields(cp: str, ref: str, urn: str) -> str:
    if not (cp.isascii() and cp.isdigit() and 6 <= len(cp) <= 12):
        raise UrnError("company prefix", cp, f"must be 6 to 12 digits (in {urn})")
    _digits(ref, "indicator and item reference", 13 - len(cp), UrnError)
    body = ref[0] + cp + ref[1:]
    return body + check_digit(body)


def parse_urn(urn: str) -> tuple[Identifier, int]:
    """Parse an sgtin, sscc, sgln or lgtin URN; returns the identifier and the prefix length."""
    kind, scheme, fields, body = split_urn(urn)
    if (kind, scheme) in (("id", "sgtin"), ("class", "lgtin")):
        cp, ref, raw = body.split(".", 2) if body.count(".") >= 2 else (body, "", "")
        if not raw:
            raise UrnError(f"{scheme} URN", urn, "needs CompanyPrefix.ItemRef.Value")
        gtin = _gtin_from_fields(cp, ref, urn)
        name = "serial" if scheme == "sgtin" else "lot"
        value = check_epc_value(percent_decode(raw, name, UrnError), name, 20, UrnError)
        return Identifier(scheme, gtin, value), len(cp)
    if (kind, scheme) == ("id", "sscc"):
        if len(fields) != 2:
            raise UrnError("sscc URN", urn, "needs CompanyPrefix.SerialReference")
        cp, ref = fields
        if not (cp.isascii() and cp.isdigit() and 6 <= len(cp) <= 12):
            raise UrnError("company prefix", cp, f"must be 6 to 12 digits (in {urn})")
        _digits(ref, "serial reference", 17 - len(cp), UrnError)
        body = ref[0] + cp + ref[1:]
        return Identifier("sscc", body + check_digit(body), ""), len(cp)
    if (kind, scheme) == ("id", "sgln"):
        cp, loc, raw = body.split(".", 2) if body.count(".") >= 2 else (body, "", "")
        if not raw:
            raise UrnError("sgln URN", urn, "needs CompanyPrefix.LocationRef.Extension")
        if not (cp.isascii() and cp.isdigit() and 6 <= len(cp) <= 12):
            raise UrnError("company prefix", cp, f"must be 6 to 12 digits (in {urn})")
        _digits(loc, "location reference", 12 - len(cp), UrnError)
        ext = check_epc_value(percent_decode(raw, "extension", UrnError), "extension", 20, UrnError)
        return Identifier("sgln", cp + loc + check_digit(cp + loc), ext), len(cp)
    raise UrnError("EPC scheme", f"{kind}:{scheme}", "only id:sgtin, id:sscc, id:sgln, class:lgtin")


#: Digital Link short names ("convenience alphas") and the AIs they stand for.
DL_ALPHAS = {
    "gtin": "01", "itip": "8006", "cpid": "8010", "gln": "414", "party": "417", "gsrnp": "8017",
    "gsrn": "8018", "gcn": "255", "sscc": "00", "gdti": "253", "ginc": "401", "gsin": "402",
    "grai": "8003", "giai": "8004", "cpv": "22", "lot": "10", "ser": "21",
}  # fmt: skip
#: Primary keys a Digital Link path may start with, and the key qualifiers each may carry.
DL_QUALIFIERS: dict[str, frozenset[str]] = {
    "01": frozenset({"22", "10", "21", "235"}), "8006": frozenset({"22", "10", "21"}),
    "8010": frozenset({"8011"}), "414": frozenset({"254"}), "00": frozenset(),
    "253": frozenset(), "255": frozenset(), "401": frozenset(), "402": frozenset(),
    "417": frozenset(), "8003": frozenset(), "8004": frozenset(), "8017": frozenset(),
    "8018": frozenset(),
}  # fmt: skip


def split_dl(uri: str) -> list[tuple[str, str]] | None:
    """The (AI, decoded value) pairs of a Digital Link path on any domain, or None if it is none.

    The path may carry a prefix before the primary key; query and fragment are ignored.
    """
    try:
        parts = urlsplit(uri)
    except ValueError:
        return None
    if parts.scheme.lower() not in ("http", "https") or not parts.netloc:
        return None
    segs = parts.path.split("/")[1:]
    if segs and segs[-1] == "":
        segs.pop()
    for start, seg in enumerate(segs):
        key = DL_ALPHAS.get(seg, seg)
        if key not in DL_QUALIFIERS or (len(segs) - start) % 2:
            continue
        pairs: list[tuple[str, str]] = []
        for i in range(start, len(segs), 2):
            ai = DL_ALPHAS.get(segs[i], segs[i])
            if i > start and ai not in DL_QUALIFIERS[key]:
                break
            try:
                value = percent_decode(segs[i + 1], f"AI ({ai})", DigitalLinkError)
            except DigitalLinkError:
                break
            if not value:
                break
            pairs.append((ai, value))
        else:
            return pairs
    return None


def parse_dl(uri: str) -> Identifier:
    """Parse a Digital Link (any domain) naming an SGTIN, LGTIN, SSCC or SGLN."""
    pairs = split_dl(uri)
    if not pairs:
        percent_decode(uri.partition("?")[0], "Digital Link", DigitalLinkError)
        raise DigitalLinkError("Digital Link", uri, "no GS1 key path like /01/{gtin}/21/{serial}")
    ais = dict(pairs)
    primary = pairs[0][0]
    if primary == "01" and ("21" in ais or "10" in ais):
        gtin = _key(validate_gtin14, ais["01"], "GTIN")
        if "21" in ais:
            return Identifier(
                "sgtin", gtin, check_epc_value(ais["21"], "serial", 20, DigitalLinkError)
            )
        return Identifier("lgtin", gtin, check_epc_value(ais["10"], "lot", 20, DigitalLinkError))
    if primary == "00":
        return Identifier("sscc", _key(validate_sscc, ais["00"], "SSCC"), "")
    if primary == "414":
        ext = check_epc_value(ais.get("254", "0"), "GLN extension", 20, DigitalLinkError)
        return Identifier("sgln", _key(validate_gln, ais["414"], "GLN"), ext)
    raise DigitalLinkError("Digital Link", uri, "names no SGTIN, LGTIN, SSCC or SGLN")


# ---------------------------------------------------------------------------------------------
# conversions and the configured form


def identifier_urn(ident: Identifier, company_prefix_length: int) -> str:
    """The EPC URN of ``ident``."""
    if ident.scheme == "sgtin":
        return sgtin_urn(ident.key, ident.qualifier, company_prefix_length)
    if ident.scheme == "lgtin":
        return lgtin_urn(ident.key, ident.qualifier, company_prefix_length)
    if ident.scheme == "sscc":
        return sscc_urn(ident.key, company_prefix_length)
    return sgln_urn(ident.key, ident.qualifier, company_prefix_length)


def identifier_dl(ident: Identifier, *, domain: str = CANONICAL_DL_DOMAIN) -> str:
    """The Digital Link of ``ident``."""
    if ident.scheme == "sgtin":
        return sgtin_dl(ident.key, ident.qualifier, domain=domain)
    if ident.scheme == "lgtin":
        return lgtin_dl(ident.key, ident.qualifier, domain=domain)
    if ident.scheme == "sscc":
        return sscc_dl(ident.key, domain=domain)
    return sgln_dl(ident.key, ident.qualifier, domain=domain)


def urn_to_dl(urn: str, *, domain: str = CANONICAL_DL_DOMAIN) -> str:
    """EPC URN (sgtin, sscc, sgln, lgtin) -> Digital Link; no company-prefix length needed."""
    return identifier_dl(parse_urn(urn)[0], domain=domain)


def dl_to_urn(uri: str, company_prefix_length: int) -> str:
    """Digital Link (any domain) -> EPC URN, splitting the key after ``company_prefix_length``."""
    return identifier_urn(parse_dl(uri), company_prefix_length)


def _form(form: IdentifierForm | str) -> IdentifierForm:
    try:
        return IdentifierForm(form)
    except ValueError:
        raise IdentifierError(
            "identifier form", str(form), "must be epc-urn or digital-link"
        ) from None


def format_identifier(
    ident: Identifier,
    form: IdentifierForm | str,
    company_prefix_length: int,
    *,
    domain: str = CANONICAL_DL_DOMAIN,
) -> str:
    """``ident`` written in the configured form."""
    if _form(form) is IdentifierForm.EPC_URN:
        return identifier_urn(ident, company_prefix_length)
    _cp_length(company_prefix_length)
    return identifier_dl(ident, domain=domain)


def format_sgtin(
    gtin: str,
    serial: str,
    form: IdentifierForm | str,
    company_prefix_length: int,
    *,
    domain: str = CANONICAL_DL_DOMAIN,
) -> str:
    """An SGTIN (GTIN + serial) in the configured form."""
    ident = Identifier("sgtin", gtin, serial)
    return format_identifier(ident, form, company_prefix_length, domain=domain)


def format_lgtin(
    gtin: str,
    lot: str,
    form: IdentifierForm | str,
    company_prefix_length: int,
    *,
    domain: str = CANONICAL_DL_DOMAIN,
) -> str:
    """An LGTIN (GTIN + lot, the EPC class of a lot) in the configured form."""
    ident = Identifier("lgtin", gtin, lot)
    return format_identifier(ident, form, company_prefix_length, domain=domain)


def format_sscc(
    sscc: str,
    form: IdentifierForm | str,
    company_prefix_length: int,
    *,
    domain: str = CANONICAL_DL_DOMAIN,
) -> str:
    """An SSCC in the configured form."""
    ident = Identifier("sscc", sscc, "")
    return format_identifier(ident, form, company_prefix_length, domain=domain)


def format_sgln(
    gln: str,
    extension: str,
    form: IdentifierForm | str,
    company_prefix_length: int,
    *,
    domain: str = CANONICAL_DL_DOMAIN,
) -> str:
    """An SGLN (GLN + extension, "0" = none) in the configured form."""
    ident = Identifier("sgln", gln, extension)
    return format_identifier(ident, form, company_prefix_length, domain=domain)
