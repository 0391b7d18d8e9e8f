"""SGTIN-96, SGTIN-198 and SSCC-96 against the GS1 EPC Tag Data Standard, for every prefix length.

Sources (facts, cited where used):
- TDS = GS1 EPC Tag Data Standard; its Appendix E works the SGTIN-96 example
  urn:epc:tag:sgtin-96:3.0614141.812345.6789 <-> 3074257BF7194E4000001A85.
- TDT = GS1 EPC Tag Data Translation; its examples give the SGTIN-198 tag
  urn:epc:tag:sgtin-198:3.0614141.712345.32a%2Fb <-> 3674257BF6B7A659B2C2BF10000...0 (the
  document's pure identity there reads 812345, a typo for the 712345 of its own tag URI and binary)
  and the SSCC-96 tag urn:epc:tag:sscc-96:3.0614141.1234567890 <-> 3174257BF4499602D2000000.
- The TDT 2.0 scheme files (ref.gs1.org/standards/tdt/2.0.0/SGTIN-96.xml, SGTIN-198.xml,
  SSCC-96.xml) give, per company prefix length (optionKey 6-12), the binary pattern: header,
  filter, partition, then the prefix, reference and serial bit widths. The published worked
  examples all use the 7-digit prefix 0614141; for the other lengths the expected binary below is
  assembled field by field from those patterns, written out here apart from the code's tables.
"""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from standards.epc.binary import (
    EpcEncodingError,
    Scheme,
    TagEpc,
    decode,
    fits_sgtin96,
    sgtin_epc,
    sscc_epc,
)
from standards.gs1.checkdigit import check_digit

# TDT 2.0 patterns, optionKey (prefix digits) -> (partition, prefix bits, reference bits).
SGTIN_PATTERNS = {12: (0, 40, 4), 11: (1, 37, 7), 10: (2, 34, 10), 9: (3, 30, 14),
                  8: (4, 27, 17), 7: (5, 24, 20), 6: (6, 20, 24)}  # fmt: skip
SSCC_PATTERNS = {12: (0, 40, 18), 11: (1, 37, 21), 10: (2, 34, 24), 9: (3, 30, 28),
                 8: (4, 27, 31), 7: (5, 24, 34), 6: (6, 20, 38)}  # fmt: skip
LENGTHS = range(6, 13)
CSET82 = "!\"%&'()*+,-./0123456789:;<=>?ABCDEFGHIJKLMNOPQRSTUVWXYZ_abcdefghijklmnopqrstuvwxyz"


def bits(value: int, width: int) -> str:
    assert value < 2**width
    return format(value, f"0{width}b")


def to_hex(binary: str) -> str:
    binary += "0" * (-len(binary) % 16)  # the EPC bank is whole 16-bit words
    return format(int(binary, 2), f"0{len(binary) // 4}X")


def gtin_for(prefix: str, indicator_item: str) -> str:
    body = indicator_item[0] + prefix + indicator_item[1:]
    return body + check_digit(body)


# --- the published examples (7-digit prefix 0614141) -----------------------------------------


def test_tds_appendix_e_sgtin96_example_encodes_and_decodes() -> None:
    epc = sgtin_epc("80614141123458", "6789", 7, filter_value=3)
    assert epc.tag_uri == "urn:epc:tag:sgtin-96:3.0614141.812345.6789"
    assert epc.hex == "3074257BF7194E4000001A85"
    assert decode("3074257BF7194E4000001A85") == epc
    assert epc.pure_identity_uri == "urn:epc:id:sgtin:0614141.812345.6789"


def test_tdt_sgtin198_example_encodes_and_decodes() -> None:
    published = "3674257BF6B7A659B2C2BF1000000000000000000000000000"  # 50 hex digits, 198 bits
    epc = sgtin_epc("70614141123451", "32a/b", 7, filter_value=3, scheme=Scheme.SGTIN_198)
    assert epc.tag_uri == "urn:epc:tag:sgtin-198:3.0614141.712345.32a%2Fb"
    assert epc.hex.startswith(published) and set(epc.hex[len(published) :]) == {"0"}
    assert len(epc.encode()) == 26  # 198 bits in 13 words
    assert decode(published) == epc
    assert decode(published).key == "70614141123451"


def test_tdt_sscc96_example_encodes_and_decodes() -> None:
    sscc = "1" + "0614141" + "234567890"
    sscc += check_digit(sscc)
    epc = sscc_epc(sscc, 7, filter_value=3)
    assert epc.tag_uri == "urn:epc:tag:sscc-96:3.0614141.1234567890"
    assert epc.hex == "3174257BF4499602D2000000"
    assert decode("3174257BF4499602D2000000") == epc
    assert epc.key == sscc


# --- every company prefix length, per the TDT 2.0 partition patterns --------------------------


@pytest.mark.parametrize("length", LENGTHS)
def test_sgtin96_binary_for_every_prefix_length_follows_the_partition_table(length: int) -> None:
    prefix = "0614141234567"[:length]
    item = ("8" + "123456789012")[: 13 - length]
    partition, prefix_bits, ref_bits = SGTIN_PATTERNS[length]
    expected = to_hex(
        "00110000" + bits(2, 3) + bits(partition, 3) + bits(int(prefix), prefix_bits)
        + bits(int(item), ref_bits) + bits(987654321, 38)
    )  # fmt: skip
    epc = sgtin_epc(gtin_for(prefix, item), "987654321", length, filter_value=2)
    assert epc.scheme is Scheme.SGTIN_96
    assert epc.hex == expected
    assert epc.tag_uri == f"urn:epc:tag:sgtin-96:2.{prefix}.{item}.987654321"
    assert decode(expected) == epc


@pytest.mark.parametrize("length", LENGTHS)
def test_sgtin198_binary_for_every_prefix_length_follows_the_partition_table(length: int) -> None:
    prefix = "4012345678901"[:length]
    item = ("0" + "987654321098")[: 13 - length]
    partition, prefix_bits, ref_bits = SGTIN_PATTERNS[length]
    serial = "AB-12/x"
    chars = "".join(bits(ord(c), 7) for c in serial).ljust(140, "0")
    expected = to_hex(
        "00110110" + bits(1, 3) + bits(partition, 3) + bits(int(prefix), prefix_bits)
        + bits(int(item), ref_bits) + chars
    )  # fmt: skip
    epc = sgtin_epc(gtin_for(prefix, item), serial, length)
    assert epc.scheme is Scheme.SGTIN_198  # chosen because SGTIN-96 cannot hold it
    assert epc.hex == expected
    assert epc.tag_uri == f"urn:epc:tag:sgtin-198:1.{prefix}.{item}.AB-12%2Fx"
    assert decode(expected) == epc


@pytest.mark.parametrize("length", LENGTHS)
def test_sscc96_binary_for_every_prefix_length_follows_the_partition_table(length: int) -> None:
    prefix = "0614141234567"[:length]
    reference = ("3" + "1234567890123456")[: 17 - length]
    partition, prefix_bits, ref_bits = SSCC_PATTERNS[length]
    body = reference[0] + prefix + reference[1:]
    expected = to_hex(
        "00110001" + bits(6, 3) + bits(partition, 3) + bits(int(prefix), prefix_bits)
        + bits(int(reference), ref_bits) + "0" * 24
    )  # fmt: skip
    epc = sscc_epc(body + check_digit(body), length, filter_value=6)
    assert epc.hex == expected
    assert epc.tag_uri == f"urn:epc:tag:sscc-96:6.{prefix}.{reference}"
    assert decode(expected) == epc


# --- what cannot be encoded, and why ------------------------------------------------------------


def test_alphanumeric_serial_is_refused_by_sgtin96_with_the_reason() -> None:
    with pytest.raises(EpcEncodingError, match="SGTIN-96 holds only a numeric serial") as info:
        sgtin_epc("80614141123458", "A1", 7, scheme=Scheme.SGTIN_96)
    assert (info.value.scheme, info.value.part, info.value.value) == ("sgtin-96", "serial", "A1")


def test_leading_zero_serial_is_refused_by_sgtin96_and_goes_to_sgtin198() -> None:
    with pytest.raises(EpcEncodingError, match="cannot keep leading zeros"):
        sgtin_epc("80614141123458", "0123", 7, scheme=Scheme.SGTIN_96)
    epc = sgtin_epc("80614141123458", "0123", 7)
    assert epc.scheme is Scheme.SGTIN_198 and decode(epc.encode()).serial == "0123"


def test_serial_above_38_bits_is_refused_by_sgtin96() -> None:
    assert fits_sgtin96("274877906943")
    with pytest.raises(EpcEncodingError, match="above 274877906943"):
        sgtin_epc("80614141123458", "274877906944", 7, scheme=Scheme.SGTIN_96)


def test_serial_longer_than_198_bits_hold_is_refused() -> None:
    with pytest.raises(EpcEncodingError, match="21 characters; SGTIN-198's 140 bits hold 1 to 20"):
        sgtin_epc("80614141123458", "A" * 21, 7)


def test_serial_outside_cset82_is_refused() -> None:
    with pytest.raises(EpcEncodingError, match="outside GS1 character set 82: ' '"):
        sgtin_epc("80614141123458", "A B", 7)


@pytest.mark.parametrize("length", [0, 5, 13])
def test_company_prefix_length_without_partition_is_refused(length: int) -> None:
    with pytest.raises(EpcEncodingError, match=f"company prefix length {length}: no partition"):
        sgtin_epc("80614141123458", "1", length)
    with pytest.raises(EpcEncodingError, match="no partition"):
        sscc_epc("106141412345678908", length)


@pytest.mark.parametrize("value", [-1, 8, 99])
def test_filter_out_of_range_is_refused(value: int) -> None:
    with pytest.raises(EpcEncodingError, match=f"filter value {value}: must be 0 to 7"):
        sgtin_epc("80614141123458", "1", 7, filter_value=value)
    with pytest.raises(EpcEncodingError, match="must be 0 to 7"):
        sscc_epc("106141412345678908", 7, filter_value=value)


def test_wrong_check_digit_is_refused() -> None:
    with pytest.raises(EpcEncodingError, match="GTIN '80614141123459': wrong check digit"):
        sgtin_epc("80614141123459", "1", 7)
    with pytest.raises(EpcEncodingError, match="SSCC '106141412345678909': wrong check digit"):
        sscc_epc("106141412345678909", 7)


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ("", "empty"),
        ("zz", "not hexadecimal"),
        ("E2801160", "header '0xE2'"),
        ("3074257BF7194E40", "needs 96"),
        ("307C257BF7194E4000001A85", "partition value 7: 7 is reserved"),
        ("3074257BF7194E4000001A85FF", "bits after the EPC not 0"),
        ("3003FFFFFFFFFC0000001A85", "company prefix 1099511627775: more than 12 digits"),
    ],
)
def test_bytes_that_are_no_epc_of_ours_are_refused_with_the_reason(data: str, message: str) -> None:
    with pytest.raises(EpcEncodingError, match=message):
        decode(data)


# --- round trips ---------------------------------------------------------------------------------

prefix_lengths = st.integers(min_value=6, max_value=12)
filters = st.integers(min_value=0, max_value=7)
gtin_bodies = st.text("0123456789", min_size=13, max_size=13)


@given(gtin_bodies, st.integers(min_value=0, max_value=2**38 - 1), prefix_lengths, filters)
def test_sgtin96_round_trips(body: str, serial: int, length: int, filter_value: int) -> None:
    epc = sgtin_epc(body + check_digit(body), str(serial), length, filter_value=filter_value)
    assert epc.scheme is Scheme.SGTIN_96 and len(epc.encode()) == 12
    back = decode(epc.hex)
    assert back == epc and back.key == body + check_digit(body) and back.serial == str(serial)


@given(gtin_bodies, st.text(CSET82, min_size=1, max_size=20), prefix_lengths, filters)
def test_sgtin198_round_trips(body: str, serial: str, length: int, filter_value: int) -> None:
    epc = sgtin_epc(
        body + check_digit(body), serial, length, filter_value=filter_value, scheme=Scheme.SGTIN_198
    )
    back = decode(epc.encode())
    assert back == epc and back.serial == serial and back.key == body + check_digit(body)


@given(st.text("0123456789", min_size=17, max_size=17), prefix_lengths, filters)
def test_sscc96_round_trips(body: str, length: int, filter_value: int) -> None:
    epc = sscc_epc(body + check_digit(body), length, filter_value=filter_value)
    back = decode(epc.encode())
    assert back == epc and back.key == body + check_digit(body)
    assert isinstance(back, TagEpc) and back.pure_identity_uri.startswith("urn:epc:id:sscc:")
