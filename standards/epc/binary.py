"""SGTIN-96, SGTIN-198 and SSCC-96: the EPC bank contents of a UHF RFID tag, encoded and decoded.

Facts from the GS1 EPC Tag Data Standard (TDS 2.x, sections 10 and 14):
- headers: SGTIN-96 ``0x30``, SSCC-96 ``0x31``, SGTIN-198 ``0x36``; then a 3-bit filter value and
  a 3-bit partition value that says how many bits (and digits) the company prefix takes;
- SGTIN-96 serial: 38-bit integer, so only digits without leading zeros ("0" itself is fine), at
  most 274877906943; any other serial needs SGTIN-198 (140 bits, 7 bits per character, at most 20
  characters of GS1 character set 82, zero-padded on the right);
- SSCC-96: company prefix and extension digit + serial reference in 58 bits, then 24 zero bits.
The bytes returned are what a tag's EPC bank holds after the PC word: the binary encoding padded
with zero bits to a 16-bit word boundary (96 bits = 6 words, 198 bits -> 208 bits = 13 words).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from standards.gs1.checkdigit import check_digit
from standards.gs1.epc import CSET82, Identifier, urn_escape


class EpcEncodingError(ValueError):
    """What cannot be encoded (or decoded) and why; ``scheme`` and ``part`` name where."""

    def __init__(self, scheme: str, part: str, value: object, reason: str) -> None:
        self.scheme, self.part, self.value, self.reason = scheme, part, value, reason
        super().__init__(f"{scheme}: {part} {value!r}: {reason}")


class Scheme(enum.StrEnum):
    """The EPC binary coding schemes linectl writes, named as in the EPC Tag URI."""

    SGTIN_96 = "sgtin-96"
    SGTIN_198 = "sgtin-198"
    SSCC_96 = "sscc-96"

    @property
    def header(self) -> int:
        return _HEADERS[self]

    @property
    def bits(self) -> int:
        return int(self.value.rpartition("-")[2])


_HEADERS = {Scheme.SGTIN_96: 0x30, Scheme.SSCC_96: 0x31, Scheme.SGTIN_198: 0x36}
_BY_HEADER = {header: scheme for scheme, header in _HEADERS.items()}


@dataclass(frozen=True)
class Partition:
    """One row of a TDS partition table: partition value, company prefix and reference sizes."""

    value: int
    prefix_bits: int
    prefix_digits: int
    reference_bits: int
    reference_digits: int


#: TDS Table 14-2, SGTIN partition table (reference = indicator digit + item reference).
SGTIN_PARTITIONS = tuple(
    Partition(p, cb, cd, rb, 13 - cd)
    for p, cb, cd, rb in [
        (0, 40, 12, 4), (1, 37, 11, 7), (2, 34, 10, 10), (3, 30, 9, 14),
        (4, 27, 8, 17), (5, 24, 7, 20), (6, 20, 6, 24),
    ]
)  # fmt: skip
#: TDS Table 14-3, SSCC partition table (reference = extension digit + serial reference).
SSCC_PARTITIONS = tuple(
    Partition(p, cb, cd, rb, 17 - cd)
    for p, cb, cd, rb in [
        (0, 40, 12, 18), (1, 37, 11, 21), (2, 34, 10, 24), (3, 30, 9, 28),
        (4, 27, 8, 31), (5, 24, 7, 34), (6, 20, 6, 38),
    ]
)  # fmt: skip

SGTIN96_SERIAL_MAX = 2**38 - 1  # 274877906943
SGTIN198_SERIAL_CHARS = 20
SGTIN_FILTER_POS_ITEM = 1  # TDS Table 10-1: point-of-sale trade item
SSCC_FILTER_ALL_OTHERS = 0  # TDS Table 10-3


def _partitions(scheme: Scheme) -> tuple[Partition, ...]:
    return SSCC_PARTITIONS if scheme is Scheme.SSCC_96 else SGTIN_PARTITIONS


def partition_for(scheme: Scheme, company_prefix_length: int) -> Partition:
    """The partition row for a company prefix of that many digits, or EpcEncodingError."""
    for row in _partitions(scheme):
        if row.prefix_digits == company_prefix_length:
            return row
    raise EpcEncodingError(
        scheme, "company prefix length", company_prefix_length,
        "no partition for it in the Tag Data Standard (6 to 12 digits)",
    )  # fmt: skip


@dataclass(frozen=True)
class TagEpc:
    """An EPC as a tag holds it: scheme, filter value, company prefix, reference and serial.

    ``reference`` is the indicator digit + item reference (SGTIN) or the extension digit + serial
    reference (SSCC), as in the EPC URI; ``serial`` is the SGTIN serial ("" for SSCC).
    """

    scheme: Scheme
    filter: int
    company_prefix: str
    reference: str
    serial: str = ""

    @property
    def key(self) -> str:
        """The GS1 key: GTIN-14 (SGTIN) or SSCC (18 digits), with its check digit."""
        body = self.reference[:1] + self.company_prefix + self.reference[1:]
        return body + check_digit(body)

    @property
    def identifier(self) -> Identifier:
        """The identity apart from tag details (filter, scheme), as standards.gs1.epc has it."""
        if self.scheme is Scheme.SSCC_96:
            return Identifier("sscc", self.key, "")
        return Identifier("sgtin", self.key, self.serial)

    @property
    def pure_identity_uri(self) -> str:
        """``urn:epc:id:sgtin:CP.IR.S`` or ``urn:epc:id:sscc:CP.SR``."""
        if self.scheme is Scheme.SSCC_96:
            return f"urn:epc:id:sscc:{self.company_prefix}.{self.reference}"
        return f"urn:epc:id:sgtin:{self.company_prefix}.{self.reference}.{urn_escape(self.serial)}"

    @property
    def tag_uri(self) -> str:
        """``urn:epc:tag:{scheme}:{filter}.CP.ref[.serial]`` (EPC Tag URI, TDS section 12)."""
        body = self.pure_identity_uri.split(":", 4)[4]
        return f"urn:epc:tag:{self.scheme.value}:{self.filter}.{body}"

    def encode(self) -> bytes:
        """The EPC bank contents (word-padded); EpcEncodingError names what does not fit."""
        return encode(self)

    @property
    def hex(self) -> str:
        """The EPC bank contents in upper-case hex, as readers report an EPC."""
        return self.encode().hex().upper()


# ---------------------------------------------------------------------------------------------
# building


def _check_filter(scheme: Scheme, value: int) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value <= 7:
        raise EpcEncodingError(scheme, "filter value", value, "must be 0 to 7 (3 bits)")
    return value


def _check_digits(scheme: Scheme, part: str, text: str, length: int) -> str:
    if len(text) != length or not (text.isascii() and text.isdigit()):
        raise EpcEncodingError(scheme, part, text, f"must be {length} digits")
    return text


def check_serial(scheme: Scheme, serial: str) -> str:
    """``serial`` when ``scheme`` can hold it, else EpcEncodingError saying why."""
    if scheme is Scheme.SGTIN_96:
        if not (serial.isascii() and serial.isdigit()):
            raise EpcEncodingError(
                scheme, "serial", serial,
                "SGTIN-96 holds only a numeric serial (an alphanumeric one needs SGTIN-198)",
            )  # fmt: skip
        if serial != "0" and serial.startswith("0"):
            raise EpcEncodingError(
                scheme, "serial", serial,
                "SGTIN-96 cannot keep leading zeros (the serial is an integer; use SGTIN-198)",
            )  # fmt: skip
        if int(serial) > SGTIN96_SERIAL_MAX:
            raise EpcEncodingError(
                scheme, "serial", serial,
                f"above {SGTIN96_SERIAL_MAX}, the largest 38-bit serial (use SGTIN-198)",
            )  # fmt: skip
        return serial
    if not 1 <= len(serial) <= SGTIN198_SERIAL_CHARS:
        raise EpcEncodingError(
            scheme, "serial", serial,
            f"{len(serial)} characters; SGTIN-198's 140 bits hold 1 to {SGTIN198_SERIAL_CHARS}",
        )  # fmt: skip
    bad = sorted({c for c in serial if c not in CSET82})
    if bad:
        raise EpcEncodingError(
            scheme, "serial", serial, f"characters outside GS1 character set 82: {''.join(bad)!r}"
        )
    return serial


def fits_sgtin96(serial: str) -> bool:
    """True when SGTIN-96 can hold ``serial`` (digits, no leading zero, at most 38 bits)."""
    try:
        check_serial(Scheme.SGTIN_96, serial)
    except EpcEncodingError:
        return False
    return True


def sgtin_epc(
    gtin: str,
    serial: str,
    company_prefix_length: int,
    *,
    filter_value: int = SGTIN_FILTER_POS_ITEM,
    scheme: Scheme | None = None,
) -> TagEpc:
    """The tag EPC of a unit; ``scheme`` None takes SGTIN-96 when the serial fits, else 198."""
    scheme = scheme or (Scheme.SGTIN_96 if fits_sgtin96(serial) else Scheme.SGTIN_198)
    if scheme is Scheme.SSCC_96:
        raise EpcEncodingError(scheme, "scheme", scheme.value, "an SGTIN needs sgtin-96 or -198")
    _check_digits(scheme, "GTIN", gtin, 14)
    if check_digit(gtin[:13]) != gtin[13]:
        raise EpcEncodingError(scheme, "GTIN", gtin, "wrong check digit")
    row = partition_for(scheme, company_prefix_length)
    epc = TagEpc(
        scheme,
        _check_filter(scheme, filter_value),
        gtin[1 : 1 + row.prefix_digits],
        gtin[0] + gtin[1 + row.prefix_digits : 13],
        check_serial(scheme, serial),
    )
    return epc


def sscc_epc(sscc: str, company_prefix_length: int, *, filter_value: int = 0) -> TagEpc:
    """The SSCC-96 tag EPC of a case or pallet."""
    scheme = Scheme.SSCC_96
    _check_digits(scheme, "SSCC", sscc, 18)
    if check_digit(sscc[:17]) != sscc[17]:
        raise EpcEncodingError(scheme, "SSCC", sscc, "wrong check digit")
    row = partition_for(scheme, company_prefix_length)
    cp = sscc[1 : 1 + row.prefix_digits]
    return TagEpc(scheme, _check_filter(scheme, filter_value), cp, sscc[0] + sscc[1 + len(cp) : 17])


# ---------------------------------------------------------------------------------------------
# binary


def encode(epc: TagEpc) -> bytes:
    """The EPC bank contents of ``epc``, padded with zero bits to a 16-bit word boundary."""
    scheme = epc.scheme
    row = partition_for(scheme, len(epc.company_prefix))
    _check_filter(scheme, epc.filter)
    _check_digits(scheme, "company prefix", epc.company_prefix, row.prefix_digits)
    _check_digits(scheme, "reference", epc.reference, row.reference_digits)
    fields = [(scheme.header, 8), (epc.filter, 3), (row.value, 3)]
    fields += [(int(epc.company_prefix), row.prefix_bits), (int(epc.reference), row.reference_bits)]
    if scheme is Scheme.SSCC_96:
        fields.append((0, 24))
    elif scheme is Scheme.SGTIN_96:
        fields.append((int(check_serial(scheme, epc.serial)), 38))
    else:
        chars = check_serial(scheme, epc.serial).ljust(SGTIN198_SERIAL_CHARS, "\0")
        fields += [(ord(c), 7) for c in chars]
    value = 0
    bits = 0
    for number, width in fields:
        value = value << width | number
        bits += width
    pad = -bits % 16
    return (value << pad).to_bytes((bits + pad) // 8, "big")


def _bits(data: bytes, start: int, width: int) -> int:
    total = len(data) * 8
    return int.from_bytes(data, "big") >> (total - start - width) & ((1 << width) - 1)


def decode(data: bytes | str) -> TagEpc:
    """Decode EPC bank contents (bytes or hex, as a reader reports them) into a TagEpc."""
    if isinstance(data, str):
        try:
            data = bytes.fromhex(data)
        except ValueError:
            raise EpcEncodingError("EPC", "hex", data, "not hexadecimal") from None
    if not data:
        raise EpcEncodingError("EPC", "binary", "", "empty")
    scheme = _BY_HEADER.get(data[0])
    if scheme is None:
        raise EpcEncodingError(
            "EPC", "header", f"0x{data[0]:02X}", "not SGTIN-96 (30), SSCC-96 (31) or SGTIN-198 (36)"
        )
    if len(data) * 8 < scheme.bits:
        raise EpcEncodingError(scheme, "length", f"{len(data) * 8} bits", f"needs {scheme.bits}")
    if _bits(data, scheme.bits, len(data) * 8 - scheme.bits):
        raise EpcEncodingError(scheme, "padding", data.hex().upper(), "bits after the EPC not 0")
    filter_value = _bits(data, 8, 3)
    partition = _bits(data, 11, 3)
    if partition > 6:
        raise EpcEncodingError(scheme, "partition value", partition, "7 is reserved")
    row = _partitions(scheme)[partition]
    pos = 14
    cp_value = _bits(data, pos, row.prefix_bits)
    ref_value = _bits(data, pos + row.prefix_bits, row.reference_bits)
    pos += row.prefix_bits + row.reference_bits
    cp = _field_digits(scheme, "company prefix", cp_value, row.prefix_digits)
    ref = _field_digits(scheme, "reference", ref_value, row.reference_digits)
    if scheme is Scheme.SSCC_96:
        return TagEpc(scheme, filter_value, cp, ref)
    if scheme is Scheme.SGTIN_96:
        return TagEpc(scheme, filter_value, cp, ref, str(_bits(data, pos, 38)))
    return TagEpc(scheme, filter_value, cp, ref, _decode_string(data, pos))


def _field_digits(scheme: Scheme, part: str, value: int, digits: int) -> str:
    if value >= 10**digits:
        raise EpcEncodingError(scheme, part, value, f"more than {digits} digits")
    return str(value).zfill(digits)


def _decode_string(data: bytes, pos: int) -> str:
    chars: list[str] = []
    for i in range(SGTIN198_SERIAL_CHARS):
        code = _bits(data, pos + 7 * i, 7)
        if code == 0:
            rest = _bits(data, pos + 7 * i, 7 * (SGTIN198_SERIAL_CHARS - i))
            if rest:
                raise EpcEncodingError(Scheme.SGTIN_198, "serial", "".join(chars), "data after 0")
            break
        chars.append(chr(code))
    serial = "".join(chars)
    return check_serial(Scheme.SGTIN_198, serial)
