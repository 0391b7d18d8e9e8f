"""A market's code content: AIs in profile order, GS where needed, Digital Link path and query."""

from __future__ import annotations

from pathlib import Path

import pytest

from standards.gs1.ai import NHRN_AIS
from standards.gs1.code_layout import CodeLayout, check_layout
from standards.gs1.errors import Gs1Error
from standards.gs1.scan import parse_scan

GTIN = "09506000134352"
VALUES = {"01": GTIN, "17": "281130", "10": "L2611A", "710": "12345678"}


def test_the_nhrn_ais_are_the_dictionary_s_national_numbers(standards: Path) -> None:
    text = (standards / "gs1" / "gs1-syntax-dictionary.txt").read_text(encoding="utf-8")
    nhrn = {line.split()[0] for line in text.splitlines() if "# NHRN" in line}
    assert nhrn == NHRN_AIS == {str(ai) for ai in range(710, 718)}


def test_an_element_string_keeps_the_profile_order_with_gs_after_inner_variable_fields() -> None:
    template = CodeLayout(("01", "17", "10", "21", "710")).template(VALUES)
    assert template.data("SN1") == f"01{GTIN}1728113010L2611A\x1d21SN1\x1d71012345678"
    other = CodeLayout(("01", "21", "710", "17", "10")).template(VALUES)
    assert other.data("SN1") == f"01{GTIN}21SN1\x1d71012345678\x1d1728113010L2611A"


def test_the_element_string_reads_back_to_exactly_the_profile_s_ais_and_values() -> None:
    template = CodeLayout(("01", "21", "710", "17", "10")).template(VALUES)
    scan = parse_scan("]d2" + template.data("A1b2"))
    assert dict(scan.ai) == template.expected("A1b2")
    assert list(scan.ai) == ["01", "21", "710", "17", "10"]


def test_a_digital_link_puts_lot_and_serial_in_the_path_and_the_rest_in_the_query() -> None:
    template = CodeLayout(("01", "17", "10", "21", "710"), digital_link=True).template(
        VALUES | {"10": "L/26"}, domain="https://example.com/"
    )
    uri = template.data("S&1")
    assert uri == f"https://example.com/01/{GTIN}/10/L%2F26/21/S%261?17=281130&710=12345678"
    assert dict(parse_scan(uri).ai) == template.expected("S&1")


@pytest.mark.parametrize(
    ("ais", "digital_link", "message"),
    [
        (("01", "17", "10"), False, "AI (21) is missing"),
        (("17", "10", "21"), False, "AI (01) is missing"),
        (("01", "21", "21"), False, "AI (21) is listed twice"),
        (("01", "21", "999"), False, "AI (999) is not one linectl marks"),
        (("00", "01", "21"), False, "AI (00) is a logistic unit"),
    ],
)
def test_a_layout_that_is_not_a_pack_code_is_refused_saying_why(
    ais: tuple[str, ...], digital_link: bool, message: str
) -> None:
    with pytest.raises(Gs1Error, match=message.replace("(", r"\(").replace(")", r"\)")):
        check_layout(ais, digital_link=digital_link)


def test_a_missing_or_invalid_national_number_names_the_ai() -> None:
    layout = CodeLayout(("01", "17", "10", "21", "710"))
    with pytest.raises(Gs1Error, match=r"AI \(710\) .*no value given"):
        layout.template({k: v for k, v in VALUES.items() if k != "710"})
    with pytest.raises(Gs1Error, match=r"710"):
        layout.template(VALUES | {"710": "PZN 123"})  # space is outside CSET 82
    with pytest.raises(Gs1Error, match=r"AI \(711\) is given but not part of the code"):
        layout.template(VALUES | {"711": "3400930000001"})
