"""EPC URN <-> GS1 Digital Link: round trips over random keys and CSET 82 values, known examples."""

from __future__ import annotations

import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from standards.gs1.checkdigit import check_digit
from standards.gs1.epc import (
    DigitalLinkError,
    IdentifierError,
    IdentifierForm,
    UrnError,
    dl_to_urn,
    format_sgtin,
    lgtin_urn,
    parse_dl,
    sgln_dl,
    sgtin_dl,
    sgtin_urn,
    sscc_urn,
    urn_to_dl,
)
from standards.gs1.epc_schemes import canonical_dl

# The 82 characters of GS1 AI encodable character set 82, written out independently of the code.
CSET82 = "!\"%&'()*+,-./0123456789:;<=>?ABCDEFGHIJKLMNOPQRSTUVWXYZ_abcdefghijklmnopqrstuvwxyz"
# TDS: in a URN exactly these are escaped; every other CSET 82 character stands for itself.
URN_ESCAPES = {'"': "%22", "%": "%25", "&": "%26", "/": "%2F", "<": "%3C", ">": "%3E", "?": "%3F"}
# RFC 3986 path-segment characters (unreserved, sub-delims, ":", "@") plus percent escapes.
PATH_SEGMENT = re.compile(r"(?:[A-Za-z0-9\-._~!$&'()*+,;=:@]|%[0-9A-F]{2})+")


def _urn_text(value: str) -> str:
    return "".join(URN_ESCAPES.get(c, c) for c in value)


def _with_check_digit(body: str) -> str:
    return body + check_digit(body)


cp_lengths = st.integers(min_value=6, max_value=12)
values = st.text(alphabet=CSET82, min_size=1, max_size=20)


@st.composite
def sgtin_parts(draw: st.DrawFn) -> tuple[int, str, str]:
    """(company-prefix length, URN key fields "CP.IR", GTIN-14) for a random valid GTIN."""
    cp_len = draw(cp_lengths)
    digits = draw(st.text(alphabet="0123456789", min_size=13, max_size=13))
    cp, indicator, item = digits[1 : 1 + cp_len], digits[0], digits[1 + cp_len :]
    return cp_len, f"{cp}.{indicator}{item}", _with_check_digit(digits)


def _dl_is_canonical(dl: str) -> None:
    assert dl.startswith("https://id.gs1.org/")
    for segment in dl.removeprefix("https://id.gs1.org/").split("/"):
        assert PATH_SEGMENT.fullmatch(segment), segment


@given(sgtin_parts(), values)
def test_sgtin_urn_to_digital_link_and_back_is_identity(
    parts: tuple[int, str, str], serial: str
) -> None:
    cp_len, fields, gtin = parts
    urn = f"urn:epc:id:sgtin:{fields}.{_urn_text(serial)}"
    dl = urn_to_dl(urn)
    _dl_is_canonical(dl)
    assert dl.startswith(f"https://id.gs1.org/01/{gtin}/21/")
    assert parse_dl(dl).qualifier == serial
    assert dl_to_urn(dl, cp_len) == urn
    assert sgtin_urn(gtin, serial, cp_len) == urn
    assert canonical_dl(urn) == dl


@given(sgtin_parts(), values)
def test_lgtin_urn_to_digital_link_and_back_is_identity(
    parts: tuple[int, str, str], lot: str
) -> None:
    cp_len, fields, gtin = parts
    urn = f"urn:epc:class:lgtin:{fields}.{_urn_text(lot)}"
    dl = urn_to_dl(urn)
    _dl_is_canonical(dl)
    assert dl.startswith(f"https://id.gs1.org/01/{gtin}/10/")
    assert parse_dl(dl).qualifier == lot
    assert dl_to_urn(dl, cp_len) == urn
    assert lgtin_urn(gtin, lot, cp_len) == urn
    assert canonical_dl(urn) == dl


@given(cp_lengths, st.text(alphabet="0123456789", min_size=17, max_size=17))
def test_sscc_urn_to_digital_link_and_back_is_identity(cp_len: int, digits: str) -> None:
    urn = f"urn:epc:id:sscc:{digits[1 : 1 + cp_len]}.{digits[0]}{digits[1 + cp_len :]}"
    sscc = _with_check_digit(digits)
    dl = urn_to_dl(urn)
    assert dl == f"https://id.gs1.org/00/{sscc}"
    assert dl_to_urn(dl, cp_len) == urn
    assert sscc_urn(sscc, cp_len) == urn
    assert canonical_dl(urn) == dl


@given(cp_lengths, st.text(alphabet="0123456789", min_size=12, max_size=12), values)
def test_sgln_urn_to_digital_link_and_back_is_identity(
    cp_len: int, digits: str, extension: str
) -> None:
    urn = f"urn:epc:id:sgln:{digits[:cp_len]}.{digits[cp_len:]}.{_urn_text(extension)}"
    gln = _with_check_digit(digits)
    dl = urn_to_dl(urn)
    _dl_is_canonical(dl)
    if extension == "0":
        assert dl == f"https://id.gs1.org/414/{gln}"
    else:
        assert dl.startswith(f"https://id.gs1.org/414/{gln}/254/")
    assert dl_to_urn(dl, cp_len) == urn
    assert canonical_dl(urn) == dl


@given(sgtin_parts(), values, st.sampled_from(["https://id.gs1.org", "https://brand.example"]))
def test_digital_link_to_urn_and_back_is_identity(
    parts: tuple[int, str, str], serial: str, domain: str
) -> None:
    cp_len, _, gtin = parts
    dl = sgtin_dl(gtin, serial, domain=domain)
    assert urn_to_dl(dl_to_urn(dl, cp_len), domain=domain) == dl


# -- known examples (GS1 EPC Tag Data Standard) ------------------------------------------------


@pytest.mark.parametrize(
    ("urn", "dl"),
    [
        ("urn:epc:id:sgtin:0614141.812345.6789", "https://id.gs1.org/01/80614141123458/21/6789"),
        ("urn:epc:id:sscc:0614141.1234567890", "https://id.gs1.org/00/106141412345678908"),
        ("urn:epc:id:sgln:0614141.12345.400", "https://id.gs1.org/414/0614141123452/254/400"),
        ("urn:epc:id:sgln:0614141.12345.0", "https://id.gs1.org/414/0614141123452"),
        (
            "urn:epc:class:lgtin:4012345.012345.998877",
            "https://id.gs1.org/01/04012345123456/10/998877",
        ),
        (
            "urn:epc:id:sgtin:4012345.011111.a!(b)*c+d,e:f",
            "https://id.gs1.org/01/04012345111118/21/a%21%28b%29%2Ac%2Bd%2Ce%3Af",
        ),
    ],
)
def test_known_pairs_convert_both_ways(urn: str, dl: str) -> None:
    assert urn_to_dl(urn) == dl
    assert dl_to_urn(dl, len(urn.split(":")[4].split(".")[0])) == urn


def test_a_digital_link_on_another_domain_with_short_names_and_query_converts() -> None:
    uri = "https://brand.example/shop/gtin/4012345111118/ser/98%22?linkType=gs1:pip"
    assert dl_to_urn(uri, 7) == "urn:epc:id:sgtin:4012345.011111.98%22"
    assert canonical_dl(uri) == "https://id.gs1.org/01/04012345111118/21/98%22"


def test_the_configured_form_picks_the_notation() -> None:
    assert format_sgtin("4012345111118", "7", IdentifierForm.EPC_URN, 7).startswith("urn:epc:")
    assert format_sgtin("4012345111118", "7", "digital-link", 7).startswith("https://id.gs1.org/")
    with pytest.raises(IdentifierError, match="identifier form"):
        format_sgtin("4012345111118", "7", "barcode", 7)


@pytest.mark.parametrize(
    ("call", "error", "part"),
    [
        (lambda: sgtin_urn("04012345111119", "1", 7), IdentifierError, "GTIN"),
        (lambda: sgtin_urn("04012345111118", "1", 13), IdentifierError, "company prefix length"),
        (lambda: sgtin_urn("04012345111118", "a b", 7), IdentifierError, "serial"),
        (lambda: sgtin_urn("04012345111118", "x" * 21, 7), IdentifierError, "serial"),
        (lambda: sgln_dl("4012345000054", "#1"), IdentifierError, "GLN extension"),
        (lambda: urn_to_dl("urn:epc:id:sgtin:4012345.01111.1"), UrnError, "indicator and item"),
        (lambda: urn_to_dl("urn:epc:id:sgtin:4012345.011111.%2"), UrnError, "serial"),
        (lambda: urn_to_dl("urn:epc:id:giai:4012345.1"), UrnError, "EPC scheme"),
        (lambda: dl_to_urn("https://id.gs1.org/8004/4012345ABC", 7), DigitalLinkError, "Digital"),
        (
            lambda: dl_to_urn("https://id.gs1.org/01/04012345111118/21/a%G1", 7),
            DigitalLinkError,
            "Dig",
        ),
        (lambda: dl_to_urn("https://id.gs1.org/00/123", 7), IdentifierError, "SSCC"),
    ],
)
def test_bad_input_raises_a_typed_error_naming_the_part(
    call: object, error: type[Exception], part: str
) -> None:
    with pytest.raises(error) as caught:
        call()  # type: ignore[operator]
    assert isinstance(caught.value, ValueError)
    assert str(caught.value).startswith(part)


@pytest.mark.parametrize(
    "value",
    [
        "geo:47.506694,11.104301",
        "urn:epcglobal:cbv:bt:4012345000009:ASN1099",
        "http://www.opengis.net/def/crs/EPSG/0/27700",
        "https://example.com/01/123",
        "urn:epc:id:sgtin:4012345.011111",
        "urn:epc:idpat:sgtin:4012345.*.*",
    ],
)
def test_values_that_name_no_gs1_key_have_no_canonical_digital_link(value: str) -> None:
    assert canonical_dl(value) is None


@pytest.mark.parametrize(
    ("value", "canonical"),
    [
        ("https://id.gs1.org/01/04012345111118/10/L1/21/S1", "/01/04012345111118/21/S1"),
        ("https://id.gs1.org/01/4012345111118/22/V1/10/L1", "/01/04012345111118/10/L1"),
        ("https://x.example/sscc/340123451111111111/", "/00/340123451111111111"),
        ("urn:epc:id:grai:4012345.66666.87", "/8003/0401234566666387"),
        ("urn:epc:id:gdti:987659999999..9", "/253/98765999999929"),
        ("urn:epc:id:cpi:0614141.1-A%23%2F.1234", "/8010/06141411-A%23%2F/8011/1234"),
        ("urn:epc:idpat:itip:4012345.012345.01.02.*", "/8006/040123451234560102"),
    ],
)
def test_other_keys_and_granularities_normalise(value: str, canonical: str) -> None:
    assert canonical_dl(value) == "https://id.gs1.org" + canonical
