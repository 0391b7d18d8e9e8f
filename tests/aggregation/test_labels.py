"""SSCC labels: the ZPL a Zebra prints (GS1-128 + GS1 DataMatrix + text), and their verification."""

from __future__ import annotations

import pytest

from drivers.camera.decode import DecodeOptions, decode_image
from drivers.zpl.codec import parse_label
from drivers.zpl.layout import logistic_label_zpl
from linectl.aggregation import ContainerLabel
from linectl.ledger import ContainerLevel
from simulators.marking import render_code
from standards.gs1.checkdigit import make_sscc
from tests.ledger.conftest import GTIN

SSCC = make_sscc(0, "9506000", 4711)
OTHER = make_sscc(0, "9506000", 4712)
LABEL = ContainerLabel(SSCC, ContainerLevel.CASE, GTIN, "L2611/A", "281130", units=24)


def zpl_fields(data: bytes) -> dict[str, list[str]]:
    """What a printer makes of the format: field kind -> data, as the device-side codec parses."""
    text = data.decode()
    body = text[text.index("^XA") + 3 : text.index("^XZ")]
    fields: dict[str, list[str]] = {}
    for field in parse_label(body).fields:
        fields.setdefault(field.kind, []).append(field.data)
    return fields


def test_the_zpl_label_carries_the_sscc_twice_and_the_content_in_text() -> None:
    fields = zpl_fields(logistic_label_zpl(LABEL))
    assert fields["gs1-128"] == [f"00{SSCC}"]
    assert fields["datamatrix"] == [f"00{SSCC}02{GTIN}172811303724\x1d10L2611/A"]
    text = "\n".join(fields["text"])
    for expected in (SSCC, GTIN, "L2611/A", "281130", "(37) 24"):
        assert expected in text


def test_a_pallet_label_counts_units_and_cases() -> None:
    pallet = ContainerLabel(OTHER, ContainerLevel.PALLET, GTIN, "L1", "281100", 960, cases=40)
    assert "COUNT (37) 960 (40 cases)" in pallet.hri()
    assert pallet.hri()[0].startswith("PALLET SSCC (00)")
    assert "37960\x1d10L1" in pallet.content_data


def test_a_read_of_the_printed_datamatrix_verifies_the_label() -> None:
    data = LABEL.content_data
    image = render_code(data, "datamatrix", module_px=5, quiet_zone_modules=3)
    result = decode_image(image, DecodeOptions(grade=False))
    assert result.symbol is not None
    read = result.symbol.symbology_identifier + result.symbol.text
    assert LABEL.check(read).ok


@pytest.mark.parametrize(
    ("read", "why"),
    [
        (None, "no read"),
        ("", "no read"),
        (f"]C100{OTHER}", f"read SSCC {OTHER}, expected {SSCC}"),
        (f"]d201{GTIN}21ABC", "no SSCC (AI 00)"),
        ("]C100123", "not a GS1 code"),
    ],
)
def test_a_wrong_read_fails_verification_naming_why(read: str | None, why: str) -> None:
    check = LABEL.check(read)
    assert not check.ok
    assert why in check.reason


def test_a_read_of_the_gs1_128_verifies_the_label() -> None:
    assert LABEL.check(f"]C100{SSCC}\r\n").ok
    assert LABEL.check(f"(00){SSCC}").ok
