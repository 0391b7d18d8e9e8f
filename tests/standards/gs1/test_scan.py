"""parse_scan: what readers return, the typed errors for bad data, and biip's leniencies closed."""

from __future__ import annotations

import numpy as np
import pytest
import zxingcpp
from biip import ParseError
from biip.gs1_digital_link_uris import GS1DigitalLinkURI
from biip.gs1_messages import GS1Message
from hypothesis import given, settings

from standards.gs1.checkdigit import CheckDigitError
from standards.gs1.elements import ProductCode, bracketed, element_string
from standards.gs1.errors import (
    CharsetError,
    DateError,
    Gs1Error,
    LengthError,
    MissingAiError,
    ScanSyntaxError,
    UnknownAiError,
)
from standards.gs1.scan import parse_scan
from tests.standards.gs1.test_properties import codes

GS = "\x1d"
GTIN = "09506000134352"
DATA = f"01{GTIN}17261231" + "10ABC123" + GS + "2112345"
FIELDS = {"01": GTIN, "17": "261231", "10": "ABC123", "21": "12345"}


def test_element_string_without_symbology_identifier() -> None:
    result = parse_scan(DATA)
    assert dict(result.ai) == FIELDS
    assert list(result.ai) == ["01", "17", "10", "21"]
    assert (result.kind, result.symbology, result.symbology_identifier) == (
        "element_string",
        None,
        None,
    )
    assert (result.gtin, result.expiry, result.lot, result.serial, result.sscc) == (
        GTIN,
        "261231",
        "ABC123",
        "12345",
        None,
    )


@pytest.mark.parametrize(("prefix", "name"), [("]d2", "DataMatrix"), ("]Q3", "QR")])
def test_symbology_identifier_names_the_symbology(prefix: str, name: str) -> None:
    result = parse_scan(prefix + DATA)
    assert (result.symbology, result.symbology_identifier) == (name, prefix)
    assert dict(result.ai) == FIELDS


def test_a_readers_trailing_cr_lf_is_dropped() -> None:
    assert dict(parse_scan("]d2" + DATA + "\r\n").ai) == FIELDS


def test_sscc_from_a_gs1_128_label() -> None:
    result = parse_scan("]C100106141412345678908")
    assert (result.symbology, result.sscc) == ("Code128", "106141412345678908")


def test_bracketed_hri() -> None:
    result = parse_scan("(01)09506000134352(17)261231(10)ABC123(21)12345")
    assert (result.kind, dict(result.ai)) == ("hri", FIELDS)


def test_other_gs1_ais_are_read_through_biip() -> None:
    result = parse_scan(f"01{GTIN}3103000195" + "10L" + GS + "21S")
    assert result.ai["3103"] == "000195"


@pytest.mark.parametrize(
    "uri",
    [
        "https://id.gs1.org/01/09506000134352/10/ABC123/21/12345?17=261231",
        "https://brand.example.com/products/01/09506000134352/10/ABC123/21/12345?17=261231",
        "http://id.gs1.org/01/9506000134352/10/ABC123/21/12345?17=261231&linkType=all",
        "HTTPS://id.gs1.org/01/09506000134352/10/ABC123/21/12345/?17=261231#top",
    ],
)
def test_digital_link_on_gs1_and_custom_domains(uri: str) -> None:
    result = parse_scan(uri)
    assert (result.kind, dict(result.ai)) == ("digital_link", FIELDS)


def test_digital_link_in_a_plain_qr_code() -> None:
    result = parse_scan("]Q1https://id.gs1.org/01/09506000134352/10/ABC123/21/12345?17=261231")
    assert (result.symbology, result.product_code()) == (
        "QR",
        ProductCode(GTIN, "261231", "ABC123", "12345"),
    )


def test_product_code_needs_all_four_ais() -> None:
    with pytest.raises(MissingAiError, match=r"scan has no \(10\) \(21\)"):
        parse_scan(f"01{GTIN}17261231").product_code()


def test_day_00_is_gs1_data_but_not_a_product_code_by_default() -> None:
    result = parse_scan(f"01{GTIN}17261100" + "10L" + GS + "21S")
    assert result.expiry == "261100"
    with pytest.raises(DateError, match="day 00"):
        result.product_code()
    assert result.product_code(allow_day_zero=True).expiry == "261100"


# --- errors: typed, naming the AI, the value and the offset --------------------------------


def test_bad_gtin_check_digit_is_an_error_with_its_offset() -> None:
    with pytest.raises(CheckDigitError) as caught:
        parse_scan(f"]d201{GTIN[:-1]}3" + "17261231")
    assert str(caught.value) == (
        "AI (01) GTIN '09506000134353' at offset 5: check digit is 3, expected 2"
    )
    assert caught.value.offset == 5


def test_bad_check_digit_in_an_ai_outside_the_table_is_an_error() -> None:
    with pytest.raises(CheckDigitError, match=r"AI \(02\) CONTENT '00614141123453'"):
        parse_scan("0200614141123453")


def test_unknown_ai_is_named_with_its_offset() -> None:
    with pytest.raises(
        UnknownAiError, match="no GS1 Application Identifier at offset 16"
    ) as caught:
        parse_scan(f"01{GTIN}" + "A1B2")
    assert caught.value.offset == 16


def test_truncated_fixed_length_field() -> None:
    with pytest.raises(LengthError, match=r"AI \(17\) expiry '2612' at offset 18: cut off by"):
        parse_scan(f"01{GTIN}172612")
    with pytest.raises(LengthError, match=r"cut off by a separator \(GS\) after 3 of 14"):
        parse_scan(f"01095{GS}0600013435217261231")


def test_lot_with_a_bad_character_names_ai_value_and_offset() -> None:
    with pytest.raises(CharsetError) as caught:
        parse_scan(f"]d201{GTIN}17261231" + "10AB#1" + GS + "21S")
    error = caught.value
    assert (error.ai, error.value, error.char, error.index, error.offset) == (
        "10",
        "AB#1",
        "#",
        2,
        31,
    )
    assert "AI (10) lot 'AB#1' at offset 29: character '#'" in str(error)


def test_invalid_date_in_a_scan() -> None:
    with pytest.raises(DateError, match=r"AI \(17\) expiry '250230' at offset 18: day 30"):
        parse_scan(f"01{GTIN}17250230")


def test_21_character_serial_in_a_scan() -> None:
    with pytest.raises(LengthError, match=r"AI \(21\) serial 'S{21}' at offset 26: 21 characters"):
        parse_scan(f"01{GTIN}17261231" + "21" + "S" * 21)


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ("", "scan is empty"),
        ("]d2", "no data after symbology identifier"),
        ("]", "symbology identifier ']' at offset 0"),
        ("]!201", "symbology identifier ']!2' at offset 0"),
        (f"]d101{GTIN}", "symbology identifier ']d1' does not announce GS1 data"),
        (f"{GS}01{GTIN}", "separator \\(GS\\) at offset 0"),
        (f"01{GTIN}10L{GS}{GS}21S", "two separators \\(GS\\) in a row at offset 19"),
        (f"01{GTIN}10A{GS}10B", "AI \\(10\\) appears twice with different values 'A' and 'B'"),
        ("(5)ABC(01)1", "must start with a GS1 AI in parentheses"),
    ],
)
def test_malformed_scans_raise_scan_syntax_errors(data: str, message: str) -> None:
    with pytest.raises(Gs1Error, match=message):
        parse_scan(data)


def test_a_repeated_ai_with_the_same_value_is_tolerated() -> None:
    assert parse_scan(f"01{GTIN}10A{GS}10A").lot == "A"


# --- where biip alone would be too lenient ----------------------------------------------------


def test_trailing_space_in_a_serial_is_not_stripped_away() -> None:
    with pytest.raises(CharsetError, match=r"AI \(21\) serial 'S1 '"):
        parse_scan(f"01{GTIN}" + "21S1 ")


def test_an_over_long_lot_is_not_split_into_a_phantom_ai() -> None:
    # biip reads 20 characters of lot and then "17261231" as an expiry.
    with pytest.raises(LengthError, match=r"AI \(10\) lot 'L{20}17261231'"):
        parse_scan(f"01{GTIN}10" + "L" * 20 + "17261231")


def test_hri_with_a_space_is_refused_not_squeezed() -> None:
    with pytest.raises(CharsetError, match=r"AI \(10\) lot 'A B' at offset 32"):
        parse_scan(f"(01){GTIN}(17)261231(10)A B(21)1")


def test_hri_value_with_parentheses_that_are_no_ai_is_kept_whole() -> None:
    assert parse_scan(f"(01){GTIN}(10)A(B)C((21)1").ai == {"01": GTIN, "10": "A(B)C(", "21": "1"}


@pytest.mark.parametrize(
    ("uri", "serial"),
    [
        ("https://id.gs1.org/01/09506000134352/21/A+B", "A+B"),
        ("https://id.gs1.org/01/09506000134352?21=A+B", "A+B"),
        ("https://id.gs1.org/01/09506000134352?21=A%2BB", "A+B"),
        ("https://id.gs1.org/01/09506000134352/21/A%2FB%25%3F%26", "A/B%?&"),
        ("https://id.gs1.org/01/09506000134352?21=A%26B%3DC", "A&B=C"),
    ],
)
def test_digital_link_values_are_percent_decoded_per_rfc_3986(uri: str, serial: str) -> None:
    assert parse_scan(uri).serial == serial


@pytest.mark.parametrize(
    ("uri", "error", "message"),
    [
        ("https://id.gs1.org/01/09506000134353/21/X", CheckDigitError, "check digit is 3"),
        ("https://id.gs1.org/01/09506000134352/21/1%2", ScanSyntaxError, "'%' at offset 41"),
        ("https://id.gs1.org/01/09506000134352/21/A B", ScanSyntaxError, "' ' .* at offset 41"),
        (
            "https://id.gs1.org/01/0950600013\n4352/21/X",
            ScanSyntaxError,
            "offset 32 is not allowed",
        ),
        ("https://id.gs1.org/01/09506000134352/21/X?10=", LengthError, r"AI \(10\) .* no value"),
        ("https://id.gs1.org/01/09506000134352/21/X?17", LengthError, r"AI \(17\) .* no value"),
        ("https://id.gs1.org/01/09506000134352?17=261231&17=261230", ScanSyntaxError, "twice"),
        ("https://id.gs1.org/01/09506000134352/10/A?10=B", ScanSyntaxError, "twice"),
        ("https://id.gs1.org/01/09506000134352/21/%C3%A9", CharsetError, r"AI \(21\) serial 'é'"),
        ("https://id.gs1.org/01/09506000134352/21/%E9", ScanSyntaxError, "not valid percent"),
        ("https://id.gs1.org/01/09506000134352/21/X/10/Y", ScanSyntaxError, "qualifier"),
        ("https://id.gs1.org/01/09506000134352/21", ScanSyntaxError, "without a value"),
        ("https://id.gs1.org/products/123", ScanSyntaxError, "no primary key"),
        ("https://id.gs1.org/01/09506000134352?17=250230", DateError, "day 30"),
    ],
)
def test_bad_digital_links_raise_typed_errors(
    uri: str, error: type[Gs1Error], message: str
) -> None:
    with pytest.raises(error, match=message):
        parse_scan(uri)


# --- a real symbol: encoded by zxing-cpp, decoded by zxing-cpp, read by parse_scan -------------


def _encode_decode(text: str, mode: zxingcpp.TextMode, **options: object) -> tuple[str, str]:
    options = {"gs1": True, "forceSquare": True} | options
    barcode = zxingcpp.create_barcode(text, zxingcpp.BarcodeFormat.DataMatrix, **options)
    image = np.asarray(zxingcpp.write_barcode_to_image(barcode, scale=4))
    found = zxingcpp.read_barcode(image, text_mode=mode)
    assert found is not None
    return found.symbology_identifier, found.text


def test_zxing_gs1_datamatrix_reads_back_through_parse_scan() -> None:
    code = ProductCode(GTIN, "261231", "L(1)%/\"'", "S+(21)<>")
    identifier, text = _encode_decode(bracketed(code), zxingcpp.TextMode.Plain)
    assert (identifier, text) == ("]d2", element_string(code))
    assert parse_scan(identifier + text).product_code() == code


def test_zxing_reads_a_rectangular_dmre_gs1_symbol_as_d8() -> None:
    # zint picks DMRE 8x64 for this content unless forceSquare; zxing-cpp 3.1 then reports the
    # non-standard "]d8" although the content type is GS1. parse_scan refuses "]d8", so the
    # printer layer must force square symbols (or the camera must map content type GS1 to ]d2).
    text = "[01]09506000134352[17]261231[10]ABC[21]0:0:0"
    identifier, _ = _encode_decode(text, zxingcpp.TextMode.Plain, forceSquare=False)
    assert identifier == "]d8"
    assert _encode_decode(text, zxingcpp.TextMode.Plain)[0] == "]d2"


def test_zxing_hri_text_mode_reads_back_through_parse_scan() -> None:
    code = ProductCode(GTIN, "261231", "L)1%/", "S+21<>")
    _, text = _encode_decode(bracketed(code), zxingcpp.TextMode.HRI)
    assert text == f"(01){GTIN}(17)261231(10)L)1%/(21)S+21<>"
    assert parse_scan(text).product_code() == code


@settings(derandomize=True, max_examples=60, deadline=None)
@given(codes)
def test_zxing_round_trip_covers_all_of_cset82(code: ProductCode) -> None:
    identifier, text = _encode_decode(bracketed(code), zxingcpp.TextMode.Plain)
    assert parse_scan(identifier + text).product_code() == code


# --- biip's own behaviour that linectl guards against (fails if biip changes; then revisit) ---


def test_biip_reads_an_over_long_lot_as_lot_plus_phantom_expiry() -> None:
    message = GS1Message.parse(f"01{GTIN}10" + "L" * 20 + "17261231")
    assert [(e.ai.ai, e.value) for e in message.element_strings][1:] == [
        ("10", "L" * 20),
        ("17", "261231"),
    ]


def test_biip_only_notes_a_bad_gtin_check_digit() -> None:
    message = GS1Message.parse(f"01{GTIN[:-1]}3")
    assert message.element_strings[0].gtin_error is not None


def test_biip_squeezes_spaces_out_of_hri() -> None:
    message = GS1Message.parse_hri(f"(01){GTIN}(10)A B")
    assert message.element_strings[1].value == "AB"


def test_biip_reads_plus_in_a_digital_link_query_as_a_space() -> None:
    with pytest.raises(ParseError):
        GS1DigitalLinkURI.parse(f"https://id.gs1.org/01/{GTIN}?21=A+B")
