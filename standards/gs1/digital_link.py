"""GS1 Digital Link URIs as a resolver reads and writes them: key, qualifiers, data attributes.

:func:`parse_digital_link` checks a URI with
:func:`standards.gs1.digital_link_scan.split_digital_link` (every value against the AI table, the
structure against biip) and first the qualifier order of the GS1 Digital Link grammar, so a wrong
order gets an error naming the order. It returns the parts apart. The common plain link (a GTIN
with lot and serial, no percent-escapes, data attributes of linectl's table) skips biip's second
reading (:func:`biip_adds_nothing`): the checks linectl makes of it are the ones biip would make.
:func:`build_digital_link` writes the URI back in canonical form (qualifiers in grammar order,
values percent-encoded as in :func:`standards.gs1.epc.dl_encode`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from urllib.parse import quote, unquote, urlsplit

from standards.gs1.ai import AI_TABLE, DL_PRIMARY_KEYS, validate_value
from standards.gs1.ai_registry import is_known_ai
from standards.gs1.digital_link_scan import split_digital_link
from standards.gs1.epc import DL_QUALIFIERS, dl_encode
from standards.gs1.errors import ScanSyntaxError

#: Key qualifiers of each primary key in the order the Digital Link grammar writes them.
QUALIFIER_ORDER: dict[str, tuple[str, ...]] = {
    "01": ("22", "10", "21", "235"),
    "8006": ("22", "10", "21"),
    "8010": ("8011",),
    "414": ("254",),
}


@dataclass(frozen=True)
class DigitalLinkParts:
    """A Digital Link apart: primary key, qualifiers (path order) and data attributes (query)."""

    key_ai: str
    key: str
    qualifiers: tuple[tuple[str, str], ...] = ()
    attributes: tuple[tuple[str, str], ...] = ()
    other_query: dict[str, str] = field(default_factory=dict)
    """Query parameters that are not AIs (``linkType``, ``context``, ...)."""

    def qualifier(self, ai: str) -> str | None:
        """The value of key qualifier ``ai``, or None."""
        return dict(self.qualifiers).get(ai)

    def attribute(self, ai: str) -> str | None:
        """The value of data attribute ``ai``, or None."""
        return dict(self.attributes).get(ai)


def _check_order(key_ai: str, qualifiers: Sequence[tuple[str, str]], uri: str) -> None:
    allowed = DL_QUALIFIERS.get(key_ai, frozenset())
    order = QUALIFIER_ORDER.get(key_ai, ())
    last = -1
    for ai, _ in qualifiers:
        if ai not in allowed:
            names = ", ".join(f"({a})" for a in order) or "none"
            raise ScanSyntaxError(
                f"Digital Link {uri!r}: AI ({ai}) is not a key qualifier of ({key_ai}); "
                f"allowed: {names}",
                ai=ai,
            )
        position = order.index(ai)
        if position <= last:
            raise ScanSyntaxError(
                f"Digital Link {uri!r}: key qualifiers out of order at ({ai}); the order is "
                + ", ".join(f"({a})" for a in order),
                ai=ai,
            )
        last = position


def _path_qualifiers(uri: str, key_ai: str) -> list[str]:
    """The AIs of the path after the primary key, read before any other check (for the order)."""
    segments = urlsplit(uri.partition("#")[0]).path.removesuffix("/").split("/")
    if key_ai not in segments:
        return []
    start = segments.index(key_ai)
    return segments[start + 2 :: 2]


_PLAIN_QUALIFIERS = frozenset({"10", "21"})


def biip_adds_nothing(uri: str) -> bool:
    """True when biip's reading of ``uri`` cannot differ from linectl's, nor refuse what it takes.

    That is: an http(s) URI without percent-escapes, ``+`` or fragment (both decode it alike),
    whose path's first primary key is a GTIN followed by lot and / or serial only, and whose
    query AIs are in linectl's table, each once and none of the path's. Every AI is then checked
    by linectl against the AI table (lengths, characters, check digit, dates) and the qualifier
    order by :func:`parse_digital_link`, which is what biip checks of them.
    """
    if not uri.startswith(("http://", "https://")) or any(c in uri for c in "%+#"):
        return False
    head, _, query = uri.partition("?")
    segments = head.split("/")[3:]
    if segments and segments[-1] == "":
        segments.pop()  # one trailing slash
    keys = [k for k, segment in enumerate(segments) if segment in DL_PRIMARY_KEYS]
    if not keys or segments[keys[0]] != "01":
        return False
    path_ais = segments[keys[0] :: 2]
    if len(segments[keys[0] :]) % 2 or not _PLAIN_QUALIFIERS.issuperset(path_ais[1:]):
        return False
    seen = set(path_ais)
    for item in query.split("&") if query else ():
        key = item.partition("=")[0]
        if key.isascii() and key.isdigit() and is_known_ai(key):
            if key not in AI_TABLE or key in seen:
                return False
            seen.add(key)
    return True


def parse_digital_link(uri: str) -> DigitalLinkParts:
    """Check a Digital Link URI and return its parts; a Gs1Error names what is wrong and where."""
    path_ais = None
    for key_ai in QUALIFIER_ORDER:
        ais = _path_qualifiers(uri, key_ai)
        if ais:
            path_ais = (key_ai, ais)
            break
    if path_ais is not None:  # the grammar's order first: it gives the clearest message
        _check_order(path_ais[0], [(ai, "") for ai in path_ais[1]], uri)
    fields = split_digital_link(uri, cross_check=not biip_adds_nothing(uri))
    key_ai, key = fields[0][0], fields[0][1]
    qualifiers: list[tuple[str, str]] = []
    attributes: list[tuple[str, str]] = []
    path_count = 1 + len(path_ais[1]) if path_ais is not None else 1
    for index, (ai, value, _) in enumerate(fields[1:], start=1):
        (qualifiers if index < path_count else attributes).append((ai, value))
    _check_order(key_ai, qualifiers, uri)
    other: dict[str, str] = {}
    query = uri.partition("#")[0].partition("?")[2]
    for item in query.split("&") if query else ():
        name, _, value = item.partition("=")
        if not (name.isascii() and name.isdigit()):
            other[unquote(name)] = unquote(value)
    return DigitalLinkParts(key_ai, key, tuple(qualifiers), tuple(attributes), other)


def build_digital_link(
    domain: str,
    key_ai: str,
    key: str,
    qualifiers: Mapping[str, str] | None = None,
    attributes: Sequence[tuple[str, str]] = (),
    query: Mapping[str, str] | None = None,
) -> str:
    """The canonical Digital Link: ``{domain}/{key_ai}/{key}[/{q}/{v}...][?ai=v&...]``.

    Qualifiers go in grammar order, each value is checked against the AI table.
    """
    if not domain.startswith(("http://", "https://")):
        raise ScanSyntaxError(f"Digital Link domain {domain!r} must start with http:// or https://")
    qualifiers = dict(qualifiers or {})
    order = QUALIFIER_ORDER.get(key_ai, ())
    ordered = sorted(
        qualifiers.items(), key=lambda item: order.index(item[0]) if item[0] in order else 99
    )
    _check_order(key_ai, ordered, f"{domain}/{key_ai}/{key}")
    parts = [domain.rstrip("/"), key_ai, dl_encode(validate_value(key_ai, key))]
    for ai, value in ordered:
        if ai in AI_TABLE:
            validate_value(ai, value)
        parts += [ai, dl_encode(value)]
    uri = "/".join(parts)
    params = [f"{ai}={quote(value, safe='')}" for ai, value in attributes]
    params += [f"{quote(k, safe='')}={quote(v, safe=':')}" for k, v in (query or {}).items()]
    return uri + ("?" + "&".join(params) if params else "")
