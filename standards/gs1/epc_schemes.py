"""Constrained canonical GS1 Digital Link for every GS1 key an EPCIS event may carry.

The EPCIS event hash (CBV 2.0 "Event Hash ID") writes every EPC URN (``urn:epc:id:``), EPC class
(``urn:epc:class:lgtin``) and EPC pattern (``urn:epc:idpat:``) as a canonical Digital Link on
``https://id.gs1.org``, and brings Digital Links on other domains to that form too: query string
dropped, short names ("gtin", "ser", ...) replaced by AIs, GTINs padded to 14 digits, and only the
finest level kept (01 21 wins over 01 10; CPV 22 dropped). Keys allowed in the result: 00, 01,
01 21, 01 10, 01 235, 253, 255, 401, 402, 414, 414 254, 417, 8003, 8004, 8006, 8006 21, 8006 10,
8010, 8010 8011, 8017, 8018.

URN -> AI facts (GS1 EPC Tag Data Standard, pure identity URIs; "cd" = computed check digit):
sgtin CP.IR.S -> 01 IR[0]+CP+IR[1:]+cd, 21 S; sscc CP.SR -> 00 SR[0]+CP+SR[1:]+cd;
sgln CP.L.E -> 414 CP+L+cd (+254 E unless E is "0"); grai CP.A.S -> 8003 "0"+CP+A+cd+S;
giai CP.R -> 8004 CP+R; gsrn / gsrnp CP.R -> 8018 / 8017 CP+R+cd; gdti CP.D.S -> 253 CP+D+cd+S;
cpi CP.R.S -> 8010 CP+R, 8011 S; sgcn CP.C.S -> 255 CP+C+cd+S; ginc CP.R -> 401 CP+R;
gsin CP.R -> 402 CP+R+cd; itip CP.IR.P.T.S -> 8006 GTIN+P+T, 21 S; upui CP.IR.X -> 01 GTIN, 235 X;
pgln CP.R -> 417 CP+R+cd; lgtin class CP.IR.L -> 01 GTIN, 10 L; idpat patterns ending in ".*"
keep only the key (sgtin, upui -> 01 GTIN; grai, gdti, sgcn, cpi, itip -> their key).
"""

from __future__ import annotations

import functools
import string
from collections.abc import Callable

from standards.gs1.checkdigit import check_digit
from standards.gs1.epc import (
    CANONICAL_DL_DOMAIN,
    CSET82,
    IdentifierError,
    dl_encode,
    percent_decode,
    split_dl,
    split_urn,
)

Pairs = list[tuple[str, str]]

_CSET39 = frozenset(string.ascii_uppercase + string.digits + "#-/")


def _digits(text: str, length: int | None = None) -> bool:
    """All ASCII digits (an empty text only when ``length`` is 0) and ``length`` long if given."""
    if length is not None and len(text) != length:
        return False
    return text == "" if length == 0 else text.isascii() and text.isdigit()


def _cp(cp: str) -> bool:
    return _digits(cp) and 6 <= len(cp) <= 12


def _cd(body: str) -> str:
    return body + check_digit(body)


def _text(raw: str, max_len: int, charset: frozenset[str] = CSET82) -> str | None:
    """Decoded URN component, or None when it is empty, too long or outside ``charset``."""
    try:
        value = percent_decode(raw, "component")
    except IdentifierError:
        return None
    return value if 0 < len(value) <= max_len and set(value) <= charset else None


def _key_with_ref(f: list[str], total: int) -> str | None:
    """CompanyPrefix + reference when both are digits and together ``total`` digits long."""
    cp, ref = f[0], f[1]
    return cp + ref if _cp(cp) and _digits(ref, total - len(cp)) else None


def _gtin(f: list[str]) -> str | None:
    cp, ref = f[0], f[1]
    if not (_cp(cp) and _digits(ref, 13 - len(cp))):
        return None
    return _cd(ref[0] + cp + ref[1:])


def _sgtin(f: list[str]) -> Pairs | None:
    gtin, serial = _gtin(f), _text(f[2], 20)
    return [("01", gtin), ("21", serial)] if gtin and serial else None


def _lgtin(f: list[str]) -> Pairs | None:
    gtin, lot = _gtin(f), _text(f[2], 20)
    return [("01", gtin), ("10", lot)] if gtin and lot else None


def _upui(f: list[str]) -> Pairs | None:
    gtin, tpx = _gtin(f), _text(f[2], 28)
    return [("01", gtin), ("235", tpx)] if gtin and tpx else None


def _sscc(f: list[str]) -> Pairs | None:
    cp, ref = f[0], f[1]
    if not (_cp(cp) and _digits(ref, 17 - len(cp))):
        return None
    return [("00", _cd(ref[0] + cp + ref[1:]))]


def _sgln(f: list[str]) -> Pairs | None:
    gln, ext = _key_with_ref(f, 12), _text(f[2], 20)
    if not gln or not ext:
        return None
    return [("414", _cd(gln))] + ([] if ext == "0" else [("254", ext)])


def _serialised(
    ai: str, total: int, max_serial: int, prefix: str = "", numeric: bool = False
) -> Callable[[list[str]], Pairs | None]:
    """Key + serial in one AI (grai, gdti, sgcn): CP.Ref.Serial -> AI prefix+CP+Ref+cd+Serial."""

    def convert(f: list[str]) -> Pairs | None:
        key, serial = _key_with_ref(f, total), _text(f[2], max_serial)
        if not key or not serial or (numeric and not _digits(serial)):
            return None
        return [(ai, _cd(prefix + key) + serial)]

    return convert


def _plain(ai: str, total: int) -> Callable[[list[str]], Pairs | None]:
    """Key with a check digit and no serial (gsrn, gsrnp, gsin, pgln)."""

    def convert(f: list[str]) -> Pairs | None:
        key = _key_with_ref(f, total)
        return [(ai, _cd(key))] if key else None

    return convert


def _alnum(ai: str, max_len: int) -> Callable[[list[str]], Pairs | None]:
    """CompanyPrefix + alphanumeric reference in one AI (giai, ginc)."""

    def convert(f: list[str]) -> Pairs | None:
        ref = _text(f[1], max_len - len(f[0]))
        return [(ai, f[0] + ref)] if _cp(f[0]) and ref else None

    return convert


def _cpi(f: list[str]) -> Pairs | None:
    ref = _text(f[1], 30 - len(f[0]), _CSET39)
    if not (_cp(f[0]) and ref and _digits(f[2]) and len(f[2]) <= 12):
        return None
    return [("8010", f[0] + ref), ("8011", f[2])]


def _itip(f: list[str]) -> Pairs | None:
    gtin, serial = _gtin(f), _text(f[4], 20)
    if not (gtin and serial and _digits(f[2], 2) and _digits(f[3], 2)):
        return None
    return [("8006", gtin + f[2] + f[3]), ("21", serial)]


# scheme -> (number of dot-separated fields, converter)
_ID_SCHEMES: dict[str, tuple[int, Callable[[list[str]], Pairs | None]]] = {
    "sgtin": (3, _sgtin),
    "sscc": (2, _sscc),
    "sgln": (3, _sgln),
    "grai": (3, _serialised("8003", 12, 16, prefix="0")),
    "giai": (2, _alnum("8004", 30)),
    "gsrn": (2, _plain("8018", 17)),
    "gsrnp": (2, _plain("8017", 17)),
    "gdti": (3, _serialised("253", 12, 17)),
    "cpi": (3, _cpi),
    "sgcn": (3, _serialised("255", 12, 12, numeric=True)),
    "ginc": (2, _alnum("401", 30)),
    "gsin": (2, _plain("402", 16)),
    "itip": (5, _itip),
    "upui": (3, _upui),
    "pgln": (2, _plain("417", 12)),
}


def _pattern(scheme: str, f: list[str]) -> Pairs | None:
    """idpat with the serial part "*": only the key remains."""
    if scheme in ("sgtin", "upui"):
        gtin = _gtin(f)
        return [("01", gtin)] if gtin else None
    if scheme == "itip":
        gtin = _gtin(f)
        ok = gtin and _digits(f[2], 2) and _digits(f[3], 2)
        return [("8006", f"{gtin}{f[2]}{f[3]}")] if ok else None
    if scheme == "cpi":
        ref = _text(f[1], 30 - len(f[0]), _CSET39)
        return [("8010", f[0] + ref)] if _cp(f[0]) and ref else None
    prefix = {"grai": ("8003", "0"), "gdti": ("253", ""), "sgcn": ("255", "")}.get(scheme)
    key = _key_with_ref(f, 12)
    return [(prefix[0], _cd(prefix[1] + key))] if prefix and key else None


def _from_urn(urn: str) -> Pairs | None:
    try:
        kind, scheme, _, body = split_urn(urn)
    except IdentifierError:
        return None
    kind, scheme = kind.lower(), scheme.lower()
    if kind == "class" and scheme == "lgtin":
        fields = body.split(".", 2)
        return _lgtin(fields) if len(fields) == 3 else None
    if kind == "idpat" and body.endswith(".*"):
        n = 5 if scheme == "itip" else 3
        fields = body.split(".")
        return _pattern(scheme, fields) if len(fields) == n else None
    if kind != "id" or scheme not in _ID_SCHEMES:
        return None
    n, convert = _ID_SCHEMES[scheme]
    fields = body.split(".", n - 1)
    return convert(fields) if len(fields) == n else None


# primary key -> (digits at the start of its value, exact length of the value if fixed, max length)
_DL_KEYS: dict[str, tuple[int, int | None, int]] = {
    "00": (18, 18, 18), "01": (14, 14, 14), "253": (13, None, 30), "255": (13, None, 25),
    "401": (0, None, 30), "402": (17, 17, 17), "414": (13, 13, 13), "417": (13, 13, 13),
    "8003": (14, None, 30), "8004": (0, None, 30), "8006": (18, 18, 18), "8010": (0, None, 30),
    "8017": (18, 18, 18), "8018": (18, 18, 18),
}  # fmt: skip


def _from_dl(uri: str) -> Pairs | None:
    pairs = split_dl(uri)
    if not pairs:
        return None
    key_ai, key = pairs[0]
    if key_ai == "01" and _digits(key) and len(key) in (8, 12, 13):
        key = key.zfill(14)
    lead, exact, longest = _DL_KEYS[key_ai]
    charset = _CSET39 if key_ai == "8010" else CSET82
    if not (_digits(key[:lead], lead) and len(key) <= longest and set(key) <= charset):
        return None
    if exact is not None and len(key) != exact:
        return None
    found = dict(pairs[1:])
    if not all(set(v) <= CSET82 and len(v) <= 28 for v in found.values()):
        return None
    for qualifier in ("21", "10", "235", "254", "8011"):
        if qualifier in found:
            return [(key_ai, key), (qualifier, found[qualifier])]
    return [(key_ai, key)]


@functools.lru_cache(maxsize=8192)
def canonical_dl(value: str) -> str | None:
    """Canonical Digital Link for an EPC URN/class/pattern or a Digital Link; None if neither.

    Cached (a pure function): the line hashes each unit's EPC in its commissioning event and
    again in its case's packing event.
    """
    head = value[:8].lower()
    if head == "urn:epc:":
        pairs = _from_urn(value)
    elif head.startswith(("http://", "https://")):
        pairs = _from_dl(value)
    else:
        return None
    if pairs is None:
        return None
    return CANONICAL_DL_DOMAIN + "".join(f"/{ai}/{dl_encode(v)}" for ai, v in pairs)
