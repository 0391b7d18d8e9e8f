"""GS1 element strings, scans and Digital Links -> tag EPCs, with the prefix length from config."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from linectl.config.file import load_config
from standards.epc.binary import EpcEncodingError, Scheme, decode
from standards.epc.gs1_keys import digital_link_of, element_string_of_epc, epc_for_gs1
from standards.gs1.checkdigit import check_digit
from standards.gs1.epc import sgtin_urn, sscc_urn
from standards.gs1.errors import Gs1Error

DEMO = Path(__file__).parents[3] / "config" / "demo-line.toml"
GS = "\x1d"


def test_unit_digital_link_maps_to_the_tds_example_epc() -> None:
    epc = epc_for_gs1("https://id.gs1.org/01/80614141123458/21/6789", 7, unit_filter=3)
    assert epc.hex == "3074257BF7194E4000001A85"  # TDS Appendix E


def test_unit_element_string_scan_and_hri_give_the_same_epc() -> None:
    forms = [
        "]d2" + "0180614141123458" + "17271231" + "10LOT7" + GS + "216789",
        "(01)80614141123458(17)271231(10)LOT7(21)6789",
        "https://example.com/01/80614141123458/10/LOT7/21/6789?17=271231",
    ]
    assert {epc_for_gs1(f, 7).tag_uri for f in forms} == {
        "urn:epc:tag:sgtin-96:1.0614141.812345.6789"
    }


def test_sscc_maps_to_sscc96_with_the_logistic_filter() -> None:
    epc = epc_for_gs1("(00)106141412345678908", 7, logistic_filter=2)
    assert epc.tag_uri == "urn:epc:tag:sscc-96:2.0614141.1234567890"
    assert digital_link_of(epc) == "https://id.gs1.org/00/106141412345678908"
    assert element_string_of_epc(epc) == "00106141412345678908"


def test_alphanumeric_unit_serial_maps_to_sgtin198() -> None:
    epc = epc_for_gs1("https://id.gs1.org/01/80614141123458/21/AB%2F12", 7)
    assert epc.scheme is Scheme.SGTIN_198
    assert digital_link_of(epc) == "https://id.gs1.org/01/80614141123458/21/AB%2F12"
    assert element_string_of_epc(epc) == "018061414112345821AB/12"


def test_company_prefix_length_comes_from_the_line_configuration() -> None:
    length = load_config(DEMO).line.company_prefix_length
    gtin = "04012345000016"
    epc = epc_for_gs1(f"(01){gtin}(21)1001", length)
    # the tag's identity is the URN the line's EPCIS events use for the same unit
    assert epc.pure_identity_uri == sgtin_urn(gtin, "1001", length)
    assert len(epc.company_prefix) == length


def test_gs1_data_without_a_serialised_key_is_refused() -> None:
    with pytest.raises(EpcEncodingError, match="names neither an SSCC"):
        epc_for_gs1("(01)80614141123458(10)LOT7", 7)
    with pytest.raises(Gs1Error):
        epc_for_gs1("(01)80614141123459(21)1", 7)  # wrong GTIN check digit


@given(
    st.text("0123456789", min_size=13, max_size=13),
    st.text("0123456789ABCxyz-./", min_size=1, max_size=20),
    st.integers(min_value=6, max_value=12),
)
def test_digital_link_to_tag_and_back_is_the_same_unit(body: str, serial: str, length: int) -> None:
    gtin = body + check_digit(body)
    uri = f"https://id.gs1.org/01/{gtin}/21/{serial.replace('/', '%2F')}"
    epc = decode(epc_for_gs1(uri, length).encode())
    assert digital_link_of(epc) == uri
    assert epc.pure_identity_uri == sgtin_urn(gtin, serial, length)


@given(st.text("0123456789", min_size=17, max_size=17), st.integers(min_value=6, max_value=12))
def test_sscc_to_tag_and_back_is_the_same_pallet(body: str, length: int) -> None:
    sscc = body + check_digit(body)
    epc = decode(epc_for_gs1(f"(00){sscc}", length).encode())
    assert epc.key == sscc and epc.pure_identity_uri == sscc_urn(sscc, length)
