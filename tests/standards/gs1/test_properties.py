"""Properties: every valid code survives element string, HRI and Digital Link; bad input only
ever raises a Gs1Error.

HRI carries any CSET 82 character except "(": a "(" followed by AI digits and ")" inside a
value cannot be told from the next AI's marker, so HRI round trips draw values without "(".
Element strings and Digital Link URIs carry all of CSET 82.
"""

from __future__ import annotations

import datetime as dt
from urllib.parse import quote

from hypothesis import given, settings
from hypothesis import strategies as st

from standards.gs1.ai import AI_TABLE, validate_value
from standards.gs1.checkdigit import check_digit
from standards.gs1.cset82 import CSET82
from standards.gs1.dates import format_yymmdd
from standards.gs1.elements import ProductCode, element_string, hri
from standards.gs1.errors import Gs1Error
from standards.gs1.scan import ScanResult, parse_scan

SEEDED = settings(derandomize=True, max_examples=200)
TODAY = dt.date.today()
HRI_SAFE = CSET82.replace("(", "")
# Characters RFC 3986 allows unencoded in a path segment / a query value ("&" ends a parameter).
PATH_SAFE = "!$&'()*+,;=:@"
QUERY_SAFE = "!$'()*+,;=:@/?"

gtins = st.text("0123456789", min_size=13, max_size=13).map(lambda body: body + check_digit(body))
expiries = st.dates(dt.date(TODAY.year - 49, 1, 1), dt.date(TODAY.year + 50, 12, 31)).map(
    format_yymmdd
)
cset82_values = st.text(CSET82, min_size=1, max_size=20)
codes = st.builds(ProductCode, gtins, expiries, cset82_values, cset82_values)
hri_codes = st.builds(
    ProductCode,
    gtins,
    expiries,
    st.text(HRI_SAFE, min_size=1, max_size=20),
    st.text(HRI_SAFE, min_size=1, max_size=20),
)


def digital_link(code: ProductCode, domain: str, *, minimal: bool) -> str:
    """A Digital Link for ``code``: every reserved character encoded, or only those that must be."""
    path_safe, query_safe = (PATH_SAFE, QUERY_SAFE) if minimal else ("", "")
    lot, serial = quote(code.lot, safe=path_safe), quote(code.serial, safe=path_safe)
    return (
        f"https://{domain}/01/{code.gtin}/10/{lot}/21/{serial}"
        f"?17={quote(code.expiry, safe=query_safe)}"
    )


@SEEDED
@given(codes)
def test_element_string_round_trip_covers_all_of_cset82(code: ProductCode) -> None:
    result = parse_scan(element_string(code))
    assert result.product_code() == code
    assert list(result.ai) == ["01", "17", "10", "21"]


@SEEDED
@given(codes, st.sampled_from(["]d2", "]Q3"]))
def test_round_trip_with_a_symbology_identifier(code: ProductCode, prefix: str) -> None:
    result = parse_scan(prefix + element_string(code) + "\r\n")
    assert result.product_code() == code
    assert result.symbology_identifier == prefix


@SEEDED
@given(hri_codes)
def test_hri_round_trip(code: ProductCode) -> None:
    result = parse_scan(hri(code))
    assert (result.kind, result.product_code()) == ("hri", code)


@SEEDED
@given(codes, st.sampled_from(["id.gs1.org", "brand.example.com/dl"]), st.booleans())
def test_digital_link_round_trip_covers_all_of_cset82(
    code: ProductCode, domain: str, minimal: bool
) -> None:
    result = parse_scan(digital_link(code, domain, minimal=minimal))
    assert (result.kind, result.product_code()) == ("digital_link", code)


def assert_scan_is_sound(data: str) -> None:
    """parse_scan returns a result whose table AIs are all valid, or raises a Gs1Error."""
    try:
        result = parse_scan(data)
    except Gs1Error:
        return
    assert isinstance(result, ScanResult)
    for ai, value in result.ai.items():
        if ai in AI_TABLE:
            assert validate_value(ai, value) == value


@SEEDED
@given(st.text())
def test_arbitrary_text_is_a_result_or_a_gs1_error(data: str) -> None:
    assert_scan_is_sound(data)


@SEEDED
@given(
    st.sampled_from(["]d2", "]Q3", "]d1", "(", "(01)", "01", "https://id.gs1.org/01/", "http://"]),
    st.text(CSET82 + "\x1d ()[]%/?#&=+é0123456789\n"),
)
def test_plausible_prefixes_with_arbitrary_tails(prefix: str, tail: str) -> None:
    assert_scan_is_sound(prefix + tail)


MUTATION_CHARS = CSET82 + "\x1d\x00 \t\r\né€[]{}#~%"


@st.composite
def mutated_scans(draw: st.DrawFn) -> str:
    """A valid scan in one of the four forms, then 1-4 random edits."""
    code = draw(codes)
    form = draw(st.sampled_from(["element", "prefixed", "hri", "dl"]))
    text = {
        "element": element_string(code),
        "prefixed": "]d2" + element_string(code),
        "hri": hri(code),
        "dl": digital_link(code, "id.gs1.org", minimal=draw(st.booleans())),
    }[form]
    for _ in range(draw(st.integers(1, 4))):
        position = draw(st.integers(0, len(text)))
        edit = draw(st.sampled_from(["insert", "delete", "replace", "truncate", "repeat"]))
        char = draw(st.sampled_from(MUTATION_CHARS))
        if edit == "insert":
            text = text[:position] + char + text[position:]
        elif edit == "delete":
            text = text[:position] + text[position + 1 :]
        elif edit == "replace":
            text = text[:position] + char + text[position + 1 :]
        elif edit == "truncate":
            text = text[:position]
        else:
            text = text[:position] + text[position : position + 5] * 2 + text[position + 5 :]
    return text


@SEEDED
@given(mutated_scans())
def test_mutated_valid_scans_are_a_result_or_a_gs1_error(data: str) -> None:
    assert_scan_is_sound(data)
