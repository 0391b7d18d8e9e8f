"""GS1 Digital Link parts: parsed apart in the grammar's qualifier order, built back canonically."""

from __future__ import annotations

import pytest

from standards.gs1.checkdigit import CheckDigitError, check_digit
from standards.gs1.digital_link import build_digital_link, parse_digital_link
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
