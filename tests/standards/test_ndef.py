"""An NDEF URI record holding a unit's Digital Link, parsed by an independent library (ndeflib)."""

from __future__ import annotations

import ndef
import pytest
from hypothesis import given
from hypothesis import strategies as st

from standards.gs1.checkdigit import check_digit
from standards.gs1.epc import sgtin_dl
from standards.ndef import (
    NdefError,
    ndef_message,
    parse_uri_message,
    type2_tlv,
    uri_record,
)

CSET82 = "!\"%&'()*+,-./0123456789:;<=>?ABCDEFGHIJKLMNOPQRSTUVWXYZ_abcdefghijklmnopqrstuvwxyz"


def test_unit_digital_link_record_parses_with_ndeflib_to_exactly_that_uri() -> None:
    uri = sgtin_dl("09506000134352", "12345AB/7", domain="https://resolver.example.com")
    records = list(ndef.message_decoder(ndef_message(uri)))
    assert len(records) == 1
    assert isinstance(records[0], ndef.UriRecord)
    assert records[0].iri == uri  # ndeflib puts the prefix back itself


def test_https_prefix_is_abbreviated_to_code_4() -> None:
    message = ndef_message("https://id.gs1.org/01/09506000134352/21/1")
    assert message[:4] == bytes([0xD1, 0x01, len(message) - 4, ord("U")])
    assert message[4] == 0x04 and message[5:].startswith(b"id.gs1.org/")
    assert uri_record("https://www.example.com/x").code == 0x02  # the longest prefix wins
    assert uri_record("urn:epc:id:sgtin:0614141.812345.6789").code == 0x1E


def test_long_uri_uses_a_long_record_and_still_parses() -> None:
    uri = "https://id.gs1.org/01/09506000134352/21/1?x=" + "a" * 300
    message = ndef_message(uri)
    assert not message[0] & 0x10  # SR clear: 4-byte payload length
    assert next(ndef.message_decoder(message)).iri == uri
    assert parse_uri_message(message) == uri


def test_type2_tlv_wraps_the_message_for_the_tag() -> None:
    message = ndef_message("https://id.gs1.org/01/09506000134352/21/1")
    tlv = type2_tlv(message)
    assert tlv[0] == 0x03 and tlv[1] == len(message) and tlv[-1] == 0xFE
    assert tlv[2:-1] == message


@pytest.mark.parametrize(
    ("data", "reason"),
    [(b"\xd1\x01", "too short"), (b"\xd1\x01\x02T\x04a", "not 'U'"),
     (b"\xd1\x01\x02U\x30a", "reserved"), (b"\x91\x01\x02U\x04a", "not one whole")],
)  # fmt: skip
def test_bytes_that_are_no_uri_message_are_refused(data: bytes, reason: str) -> None:
    with pytest.raises(NdefError, match=reason):
        parse_uri_message(data)


@given(st.text("0123456789", min_size=13, max_size=13), st.text(CSET82, min_size=1, max_size=20))
def test_every_unit_digital_link_survives_ndeflib(body: str, serial: str) -> None:
    uri = sgtin_dl(body + check_digit(body), serial)
    message = ndef_message(uri)
    assert next(ndef.message_decoder(message)).iri == uri
    assert parse_uri_message(message) == uri
