"""GS1 Digital Link parts: parsed apart in the grammar's qualifier order, built back canonically."""

from __future__ import annotations

from unittest import mock

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from standards.gs1 import digital_link
from standards.gs1.checkdigit import CheckDigitError, check_digit
from standards.gs1.cset82 import CSET82
from standards.gs1.digital_link import biip_adds_nothing, build_digital_link, parse_digital_link
from standards.gs1.errors import Gs1Error, ScanSyntaxError

GTIN = "0950600013435" + check_digit("0950600013435")


def test_a_link_splits_into_key_qualifiers_attributes_and_other_parameters() -> None:
    parts = parse_digital_link(
        f"https://id.example.com/01/{GTIN}/10/L%2F1/21/S1?17=281130&linkType=gs1:pip"
    )
    assert (parts.key_ai, parts.key) == ("01", GTIN)
    assert parts.qualifiers == (("10", "L/1"), ("21", "S1"))
    assert parts.attributes == (("17", "281130"),)
    assert parts.other_query == {"linkType": "gs1:pip"}
    assert parts.qualifier("21") == "S1" and parts.attribute("17") == "281130"


@pytest.mark.parametrize(
    ("uri", "error", "named"),
    [
        (f"https://x.org/01/{GTIN[:-1]}0/21/S1", CheckDigitError, "check digit"),
        (f"https://x.org/01/{GTIN}/21/S1/10/L1", ScanSyntaxError, "out of order at (10)"),
        (f"https://x.org/01/{GTIN}/254/X", ScanSyntaxError, "AI (254) is not a key qualifier"),
        (f"https://x.org/01/{GTIN}/21/S1?17=281232", Gs1Error, "day 32"),
    ],
)
def test_a_malformed_link_raises_an_error_naming_the_problem(
    uri: str, error: type[Exception], named: str
) -> None:
    with pytest.raises(error, match=named.replace("(", r"\(").replace(")", r"\)")):
        parse_digital_link(uri)


def test_building_orders_the_qualifiers_and_encodes_values() -> None:
    uri = build_digital_link(
        "https://id.example.com", "01", GTIN, {"21": "A/B", "10": "L1"}, [("17", "281130")],
        {"linkType": "gs1:epil"},
    )  # fmt: skip
    assert uri == (f"https://id.example.com/01/{GTIN}/10/L1/21/A%2FB?17=281130&linkType=gs1:epil")
    again = parse_digital_link(uri)
    assert again.qualifiers == (("10", "L1"), ("21", "A/B"))


def test_building_refuses_a_bad_key_or_value() -> None:
    with pytest.raises(CheckDigitError):
        build_digital_link("https://x.org", "01", GTIN[:-1] + "0")
    with pytest.raises(Gs1Error):
        build_digital_link("https://x.org", "01", GTIN, {"10": "L 1"})


# -- the plain link's fast path: biip's second reading skipped only where it adds nothing --------

_SEGMENTS = st.sampled_from(
    ["01", "10", "21", "22", "235", "17", "00", "414", "254", "8006", "x", "", "ab%2Fc", "L+1"]
)
_VALUES = st.one_of(
    st.text(CSET82, min_size=0, max_size=22),
    st.sampled_from(["%41", "%zz", "a%2Fb", "é", "S 1", "0" * 14, "00000000000000"]),
)
_GTINS = st.one_of(
    st.text("0123456789", min_size=13, max_size=13).map(lambda body: body + check_digit(body)),
    st.text("0123456789", min_size=7, max_size=15),
    st.text("0123456789", min_size=7, max_size=12).map(lambda body: body + check_digit(body)),
)
_PLAIN_CHARS = "".join(c for c in CSET82 if c not in "%+/?#&")
_QUERY_ITEMS = st.one_of(
    st.tuples(st.sampled_from(["17", "10", "21", "01", "3103", "710", "99", "7003", "linkType"]),
              st.one_of(_VALUES, st.sampled_from(["281130", "281200", "281232", "gs1:pip"]))),
    st.tuples(st.sampled_from(["17", "710"]), st.sampled_from(["281130", "281200", "2812"])),
    st.just(("17", "")),
)  # fmt: skip


@st.composite
def _links(draw: st.DrawFn) -> str:
    """Links of every sort, half of them well-formed GTIN links with lot and / or serial."""
    if draw(st.booleans()):
        scheme = draw(st.sampled_from(["https://", "http://"]))
        path = ["01", draw(_GTINS.filter(lambda g: len(g) == 14))]
        for ai in draw(st.sampled_from([["10"], ["21"], ["10", "21"], ["21", "10"]])):
            path += [ai, draw(st.text(_PLAIN_CHARS, min_size=1, max_size=21))]
        items = draw(st.lists(st.one_of(st.just(("linkType", "all")), _QUERY_ITEMS), max_size=2))
        query = "&".join(f"{k}={v}" for k, v in items)
        return f"{scheme}id.example.com/" + "/".join(path) + ("?" + query if query else "")
    scheme = draw(st.sampled_from(["https://", "http://", "ftp://", ""]))
    prefix = draw(st.lists(st.sampled_from(["r", "01", "00", "verify", "414"]), max_size=2))
    path = [*prefix, "01", draw(_GTINS)]
    for _ in range(draw(st.integers(0, 3))):
        path += [draw(_SEGMENTS), draw(_VALUES)]
    if draw(st.booleans()):
        path.append(draw(_SEGMENTS))
    items = draw(st.lists(_QUERY_ITEMS, max_size=3))
    query = "&".join(f"{k}={v}" for k, v in items)
    tail = ("?" + query if query else "") + draw(st.sampled_from(["", "", "#f", "/"]))
    return f"{scheme}id.example.com/" + "/".join(path).replace(" ", "%20") + tail


def _outcome(uri: str) -> object:
    try:
        return parse_digital_link(uri)
    except Exception as exc:  # the same error type and message, or the same parts
        return (type(exc), str(exc))


@settings(derandomize=True, max_examples=1500)
@given(_links())
def test_the_plain_link_reads_the_same_with_and_without_biips_second_reading(uri: str) -> None:
    fast = _outcome(uri)
    with mock.patch.object(digital_link, "biip_adds_nothing", lambda _uri: False):
        checked = _outcome(uri)
    assert fast == checked


@pytest.mark.parametrize(
    ("uri", "plain"),
    [
        (f"https://id.example.com/01/{GTIN}/10/L1/21/S1?17=281130&linkType=gs1:pip", True),
        (f"http://127.0.0.1:8080/r/01/{GTIN}/21/123456789012", True),
        (f"https://id.example.com/01/{GTIN}/10/L%2F1/21/S1", False),  # an escape
        (f"https://id.example.com/01/{GTIN}/22/V1/10/L1", False),  # (22): not linectl's table
        (f"https://id.example.com/01/{GTIN}/21/S1?3103=000123", False),  # a data attribute biip has
        (f"https://id.example.com/01/{GTIN}/21/S1?17=281130&17=281131", False),  # one AI twice
        (f"https://id.example.com/00/123456789012345675/01/{GTIN}", False),  # not a GTIN key
    ],
)
def test_only_a_plain_gtin_link_skips_biips_second_reading(uri: str, plain: bool) -> None:
    assert biip_adds_nothing(uri) is plain
