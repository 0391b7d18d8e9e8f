"""GS1 Digital Link URIs as scanned: split and decoded by linectl, structure checked by biip.

linectl decodes every AI value itself (RFC 3986 percent-decoding, where ``+`` is a plus)
and checks the AIs of its table; biip then parses the same URI for the Digital Link rules
(primary key, qualifier order, formats of other AIs). Both readings must agree, so a value
can never be read two ways without an error.
"""

from __future__ import annotations

import re
import string
from urllib.parse import unquote, urlsplit

from biip.gs1_digital_link_uris import GS1DigitalLinkURI

from standards.gs1.ai import AI_TABLE, DL_PRIMARY_KEYS, validate_value
from standards.gs1.ai_registry import BIIP_ERRORS, Field, is_known_ai
from standards.gs1.checkdigit import CheckDigitError
from standards.gs1.cset82 import char_label
from standards.gs1.errors import LengthError, ScanSyntaxError, describe

_URI_CHARS = frozenset(string.ascii_letters + string.digits + "-._~:/?#[]@!$&'()*+,;=%")
_BAD_ESCAPE = re.compile(r"%(?![0-9A-Fa-f]{2})")


def split_digital_link(uri: str, base: int = 0, *, cross_check: bool = True) -> list[Field]:
    """(AI, value, None) of a Digital Link URI in path-then-query order, each value checked.

    ``base`` is where the URI starts in the scan, for the offsets in errors. ``cross_check``
    False skips biip's reading: only for a caller that has shown biip can add nothing (see
    :func:`standards.gs1.digital_link.biip_adds_nothing`).
    """
    for index, char in enumerate(uri):
        if char not in _URI_CHARS:
            raise ScanSyntaxError(
                f"Digital Link: character {char_label(char)} at offset {base + index} is not "
                "allowed in a URI (it must be percent-encoded)",
                offset=base + index,
            )
    bad = _BAD_ESCAPE.search(uri)
    if bad is not None:
        raise ScanSyntaxError(
            f"Digital Link: '%' at offset {base + bad.start()} is not followed by two hex "
            "digits (a literal '%' is written %25)",
            offset=base + bad.start(),
        )
    before_fragment, hash_mark, fragment = uri.partition("#")
    head, question_mark, query = before_fragment.partition("?")
    head = head.removesuffix("/")  # the Digital Link grammar allows one trailing slash
    try:
        path = urlsplit(head).path
    except ValueError as exc:
        raise ScanSyntaxError(f"Digital Link {uri!r}: {exc}") from exc
    fields = _path_fields(path, uri) + _query_fields(query, uri)
    for ai, value, _ in fields:
        if ai in AI_TABLE:
            validate_value(ai, value)
    if cross_check:
        biip_uri = head + question_mark + query.replace("+", "%2B") + hash_mark + fragment
        _agree_with_biip(biip_uri, uri, fields)
    return fields


def _decode(text: str, ai: str, uri: str) -> str:
    """Percent-decode one URI component as UTF-8."""
    try:
        return unquote(text, errors="strict")
    except UnicodeDecodeError as exc:
        raise ScanSyntaxError(
            f"Digital Link {uri!r}: AI ({ai}) value {text!r} is not valid percent-encoded UTF-8",
            ai=ai,
            value=text,
        ) from exc


def _path_fields(path: str, uri: str) -> list[Field]:
    """Primary key and qualifiers: the path from the first primary-key AI on, in pairs."""
    segments = path.split("/")
    first = next((k for k, seg in enumerate(segments) if seg in DL_PRIMARY_KEYS), None)
    if first is None:
        raise ScanSyntaxError(
            f"Digital Link {uri!r}: no primary key in the path (such as /01/<GTIN>)"
        )
    pairs = segments[first:]
    if len(pairs) % 2:
        raise ScanSyntaxError(
            f"Digital Link {uri!r}: path /{'/'.join(pairs)} ends with an AI without a value"
        )
    fields: list[Field] = []
    for index in range(0, len(pairs), 2):
        ai = pairs[index]
        value = _decode(pairs[index + 1], ai, uri)
        if ai == "01" and value.isascii() and value.isdigit() and len(value) in (8, 12, 13):
            value = value.zfill(14)  # GTIN-8/12/13 are allowed in the path, read as GTIN-14
        fields.append((ai, value, None))
    return fields


def _query_fields(query: str, uri: str) -> list[Field]:
    """The AIs among the query parameters; other parameters are ignored, as the standard says."""
    fields: list[Field] = []
    for item in query.split("&"):
        raw_key, equals, raw_value = item.partition("=")
        key = unquote(raw_key)
        if not (key.isascii() and key.isdigit() and is_known_ai(key)):
            continue
        if not equals or not raw_value:
            raise LengthError(
                f"AI ({key}) in the Digital Link query has no value", ai=key, value=""
            )
        fields.append((key, _decode(raw_value, key, uri), None))
    return fields


def _agree_with_biip(biip_uri: str, uri: str, fields: list[Field]) -> None:
    """biip must accept the URI and read the same AIs and values as linectl did."""
    try:
        parsed = GS1DigitalLinkURI.parse(biip_uri)
    except BIIP_ERRORS as exc:
        raise ScanSyntaxError(f"Digital Link {uri!r}: {exc}") from exc
    ours = {(ai, value) for ai, value, _ in fields}
    theirs: set[tuple[str, str]] = set()
    for element in parsed.element_strings:
        ai, value = element.ai.ai, element.value
        for problem in (element.gtin_error, element.gln_error, element.sscc_error):
            if problem:
                raise CheckDigitError(
                    f"{describe(ai, element.ai.data_title, value)}: {problem}", ai=ai, value=value
                )
        theirs.add((ai, value))
    if not theirs <= ours or {ai for ai, _ in ours} != {ai for ai, _ in theirs}:
        raise ScanSyntaxError(
            f"Digital Link {uri!r}: ambiguous, read as {sorted(ours)} and as {sorted(theirs)}"
        )
