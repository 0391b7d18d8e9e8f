"""render_code marks GS1 codes that zxing-cpp reads back as exactly the element string sent."""

from __future__ import annotations

import numpy as np
import pytest
import zxingcpp

from simulators.marking import bracketed_ais, render_code

GS = "\x1d"

ELEMENT_STRINGS = [
    "0109506000134352" + "17201225" + "10ABC123" + GS + "21XYZ",
    "0104012345678901" + "21" + "SN(1)/%&*" + GS + "10L0T-7" + GS + "17271231",
    "0109506000134352" + "3103000123" + "10A" + GS + "21B",
    "0104012345678901" + "10LOT1" + GS + "21" + "0" * 20,
]


def read_plain(image: np.ndarray) -> list[zxingcpp.Barcode]:
    return zxingcpp.read_barcodes(image, text_mode=zxingcpp.TextMode.Plain)


@pytest.mark.parametrize("data", ELEMENT_STRINGS)
def test_datamatrix_decodes_to_the_element_string_with_fnc1_first(data: str) -> None:
    image = render_code(data)
    (code,) = read_plain(image)
    assert code.text == data
    assert code.symbology_identifier == "]d2"
    assert code.content_type == zxingcpp.ContentType.GS1
    assert code.format == zxingcpp.BarcodeFormat.DataMatrix


def test_hri_text_mode_gives_bracketed_ais_not_the_element_string() -> None:
    data = ELEMENT_STRINGS[0]
    (code,) = zxingcpp.read_barcodes(render_code(data))
    assert code.text == "(01)09506000134352(17)201225(10)ABC123(21)XYZ"
    assert code.bytes == data.encode()


def test_image_is_grey_with_black_modules_and_white_quiet_zone() -> None:
    image = render_code(ELEMENT_STRINGS[0], module_px=3, quiet_zone_modules=2)
    assert image.dtype == np.uint8 and image.ndim == 2
    assert set(np.unique(image)) == {0, 255}
    border = 2 * 3
    assert (image[:border, :] == 255).all() and (image[-border:, :] == 255).all()
    assert (image[:, :border] == 255).all() and (image[:, -border:] == 255).all()
    # the DataMatrix "L" finder: left column of the symbol is solid black
    assert (image[border:-border, border] == 0).all()


def test_module_size_scales_the_symbol() -> None:
    small = render_code(ELEMENT_STRINGS[0], module_px=1, quiet_zone_modules=0)
    large = render_code(ELEMENT_STRINGS[0], module_px=5, quiet_zone_modules=0)
    assert large.shape == (small.shape[0] * 5, small.shape[1] * 5)


@pytest.mark.parametrize("data", ELEMENT_STRINGS[:2])
def test_gs1_qr_decodes_to_the_element_string(data: str) -> None:
    (code,) = read_plain(render_code(data, "qr", quiet_zone_modules=4))
    assert code.text == data
    assert code.symbology_identifier == "]Q3"
    assert code.content_type == zxingcpp.ContentType.GS1


def test_digital_link_uri_goes_into_a_plain_qr() -> None:
    uri = "https://id.gs1.org/01/09506000134352/10/ABC123/21/XYZ"
    (code,) = read_plain(render_code(uri, "qr", quiet_zone_modules=4))
    assert code.text == uri
    assert code.symbology_identifier == "]Q1"


def test_sscc_label_is_gs1_128() -> None:
    sscc = "00106141411234567897"
    (code,) = read_plain(render_code(sscc, "gs1-128", quiet_zone_modules=10))
    assert code.text == sscc
    assert code.symbology_identifier == "]C1"
    assert code.format == zxingcpp.BarcodeFormat.Code128


def test_bracketed_form_splits_on_the_ai_table_and_separators() -> None:
    assert bracketed_ais(ELEMENT_STRINGS[2]) == "[01]09506000134352[3103]000123[10]A[21]B"


def test_a_bad_date_is_still_marked_as_a_printer_would() -> None:
    data = "0109506000134352" + "17131300" + "10ABC"
    (code,) = read_plain(render_code(data))
    assert code.text == data


@pytest.mark.parametrize(
    ("data", "symbology", "message"),
    [
        ("", "datamatrix", "empty"),
        ("0A", "datamatrix", "offset 0"),
        ("0109506", "datamatrix", "needs 14"),
        ("01095060001343521", "datamatrix", "offset 16"),
        ("00106141411234567897", "pdf417", "unknown symbology"),
        ("https://id.gs1.org/00/106141411234567897", "gs1-128", "Digital Link"),
    ],
)
def test_unencodable_data_is_a_clear_value_error(data: str, symbology: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        render_code(data, symbology)
