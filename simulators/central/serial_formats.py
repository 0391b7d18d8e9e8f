"""How the pool manager writes serials (SNFormat): SERIALONLY as stored, or EPCURI as EPC URNs.

Returned serials come back in the same format; parsing one tells which ReturnStatus refuses it
when it does not belong to the collection or is not in that format.
"""

from __future__ import annotations

import re

from simulators.central.config import CollectionSpec
from standards.openscs import ReturnStatus

SN_FORMATS = ("SERIALONLY", "EPCURI")
_SGTIN_URN = re.compile(r"urn:epc:id:sgtin:\d{6,12}\.\d{1,7}\.[!-~]{1,20}")
_SSCC_URN = re.compile(r"urn:epc:id:sscc:(\d{6,12})\.(\d{1,11})")


def format_serial(spec: CollectionSpec, serial: str, fmt: str) -> str:
    """A stored serial of ``spec`` written in ``fmt`` (SERIALONLY: as stored; EPCURI: its URN)."""
    if fmt == "SERIALONLY":
        return serial
    cpl = spec.company_prefix_length
    if spec.kind == "sgtin":
        gtin = spec.gtin
        return f"urn:epc:id:sgtin:{gtin[1 : 1 + cpl]}.{gtin[0]}{gtin[1 + cpl : 13]}.{serial}"
    return f"urn:epc:id:sscc:{serial[1 : 1 + cpl]}.{serial[0]}{serial[1 + cpl : 17]}"


def parse_serial(spec: CollectionSpec, text: str, fmt: str) -> tuple[str, ReturnStatus | None]:
    """The stored serial for ``text`` written in ``fmt``, or the status that refuses it."""
    if fmt == "SERIALONLY":
        return text, None
    if spec.kind == "sgtin":
        serial = text.rsplit(".", 1)[-1]
        if serial and format_serial(spec, serial, fmt) == text:
            return serial, None
        if _SGTIN_URN.fullmatch(text):
            return text, ReturnStatus.InvalidSerialNumberCollection2  # another GTIN
        return text, ReturnStatus.InvalidSerialNumbersFormat4
    m = _SSCC_URN.fullmatch(text)
    if m is None or len(m[1] + m[2]) != 17:
        return text, ReturnStatus.InvalidSerialNumbersFormat4
    cp, rest = m[1], m[2]
    if cp != spec.company_prefix or int(rest[0]) != spec.extension_digit:
        return text, ReturnStatus.InvalidSerialNumberCollection2
    return spec.sscc(int(rest[1:])), None
