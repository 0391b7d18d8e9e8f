"""ProductCode validation and the element string, HRI and bracketed forms linectl prints."""

from __future__ import annotations

import datetime as dt

import pytest

from standards.gs1.checkdigit import CheckDigitError
from standards.gs1.elements import (
    ProductCode,
    bracketed,
    build_element_string,
    element_string,
    hri,
)
from standards.gs1.errors import CharsetError, DateError, Gs1Error, LengthError, UnknownAiError

GS = "\x1d"


def test_element_string_of_a_published_gtin() -> None:
    code = ProductCode("09506000134352", "261231", "ABC123", "12345")
    assert element_string(code) == "0109506000134352" + "17261231" + "10ABC123" + GS + "2112345"


def test_only_a_variable_field_that_is_not_last_gets_a_separator() -> None:
    code = ProductCode("10614141073464", "270115", "L1", "S1")
    text = element_string(code)
    assert text.count(GS) == 1
    assert text.endswith("21S1")
    assert text.index(GS) == text.index("21S1") - 1


def test_predefined_length_ais_go_first_whatever_the_given_order() -> None:
    text = build_element_string(
        [("10", "LOT"), ("21", "SER"), ("01", "09506000134352"), ("17", "261231")]
    )
    assert text == f"01095060001343521726123110LOT{GS}21SER"


def test_a_single_variable_field_has_no_separator() -> None:
    assert build_element_string([("01", "09506000134352"), ("21", "X")]) == "010950600013435221X"


def test_building_an_ai_linectl_does_not_handle_is_refused() -> None:
    with pytest.raises(UnknownAiError, match=r"AI \(240\)"):
        build_element_string([("240", "X")])


def test_building_with_an_ai_given_twice_is_refused() -> None:
    with pytest.raises(Gs1Error, match=r"AI \(10\) 'B': the AI is given twice"):
        build_element_string([("10", "A"), ("10", "B")])


def test_hri_and_bracketed_forms() -> None:
    code = ProductCode("09506000134352", "261231", "A(1)", "S/2")
    assert hri(code) == "(01)09506000134352(17)261231(10)A(1)(21)S/2"
    assert bracketed(code) == "[01]09506000134352[17]261231[10]A(1)[21]S/2"


def test_create_pads_a_gtin_13_and_writes_a_date_as_yymmdd() -> None:
    code = ProductCode.create("9506000134352", dt.date(2027, 3, 31), "L", "S")
    assert code == ProductCode("09506000134352", "270331", "L", "S")
    assert code.expiry_date() == dt.date(2027, 3, 31)


def test_gtin_with_a_wrong_check_digit_names_ai_and_value() -> None:
    with pytest.raises(CheckDigitError) as caught:
        ProductCode("09506000134353", "261231", "L", "S")
    assert str(caught.value) == "AI (01) GTIN '09506000134353': check digit is 3, expected 2"
    assert isinstance(caught.value, Gs1Error)


def test_gtin_13_with_a_wrong_check_digit_is_reported_after_padding() -> None:
    with pytest.raises(CheckDigitError, match=r"AI \(01\) GTIN '09506000134351'"):
        ProductCode.create("9506000134351", "261231", "L", "S")


@pytest.mark.parametrize(("lot", "char", "index"), [("LOT é", " ", 3), ("LOTé", "é", 3)])
def test_lot_with_a_character_outside_cset82(lot: str, char: str, index: int) -> None:
    with pytest.raises(CharsetError) as caught:
        ProductCode("09506000134352", "261231", lot, "S")
    assert str(caught.value).startswith(f"AI (10) lot {lot!r}: character {char!r}")
    assert caught.value.index == index


def test_expiry_250230_does_not_exist() -> None:
    with pytest.raises(DateError) as caught:
        ProductCode("09506000134352", "250230", "L", "S")
    assert str(caught.value) == "AI (17) expiry '250230': day 30 does not exist in 2025-02"


def test_a_21_character_serial_is_too_long() -> None:
    serial = "0123456789ABCDEFGHIJK"
    with pytest.raises(LengthError) as caught:
        ProductCode("09506000134352", "261231", "L", serial)
    assert str(caught.value) == f"AI (21) serial {serial!r}: 21 characters, at most 20 allowed"


def test_empty_lot_and_short_gtin_are_refused() -> None:
    with pytest.raises(LengthError, match=r"AI \(10\) lot ''"):
        ProductCode("09506000134352", "261231", "", "S")
    with pytest.raises(LengthError, match=r"AI \(01\) GTIN '9506000134352': 13 digits"):
        ProductCode("9506000134352", "261231", "L", "S")


def test_day_00_is_refused_unless_allowed() -> None:
    with pytest.raises(DateError, match=r"AI \(17\) expiry '270200': day 00"):
        ProductCode("09506000134352", "270200", "L", "S")
    code = ProductCode("09506000134352", "270200", "L", "S", allow_day_zero=True)
    assert code.expiry_date() == dt.date(2027, 2, 28)
    assert element_string(code) == f"01095060001343521727020010L{GS}21S"


def test_allow_day_zero_takes_no_part_in_equality() -> None:
    strict = ProductCode("09506000134352", "270228", "L", "S")
    lenient = ProductCode("09506000134352", "270228", "L", "S", allow_day_zero=True)
    assert strict == lenient


def test_product_code_is_frozen() -> None:
    code = ProductCode("09506000134352", "261231", "L", "S")
    with pytest.raises(AttributeError):
        code.serial = "T"  # type: ignore[misc]
