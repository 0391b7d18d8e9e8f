"""GS1 keys -> tag EPCs: a unit (GTIN + serial) and a case or pallet (SSCC), from any GS1 form.

A scan, an element string, its bracketed (HRI) form or a GS1 Digital Link all name the same key;
the EPC binary needs the company prefix length on top, which the line configuration gives
(``[line] company_prefix_length``, the same value the EPC URNs of the line's events use).
"""

from __future__ import annotations

from standards.epc.binary import (
    SGTIN_FILTER_POS_ITEM,
    SSCC_FILTER_ALL_OTHERS,
    EpcEncodingError,
    Scheme,
    TagEpc,
    sgtin_epc,
    sscc_epc,
)
from standards.gs1.elements import build_element_string
from standards.gs1.epc import CANONICAL_DL_DOMAIN, identifier_dl
from standards.gs1.scan import parse_scan


def epc_for_gs1(
    data: str,
    company_prefix_length: int,
    *,
    unit_filter: int = SGTIN_FILTER_POS_ITEM,
    logistic_filter: int = SSCC_FILTER_ALL_OTHERS,
    scheme: Scheme | None = None,
) -> TagEpc:
    """The tag EPC of the unit (AI 01 + 21) or logistic unit (AI 00) that ``data`` names.

    ``data`` is a scan (with or without symbology identifier), an element string, ``(01)...`` or a
    Digital Link; bad GS1 data raises standards.gs1's Gs1Error, what no EPC can hold
    EpcEncodingError. An SSCC wins when both are present (a logistic label names its unit).
    """
    scan = parse_scan(data)
    if scan.sscc is not None:
        return sscc_epc(scan.sscc, company_prefix_length, filter_value=logistic_filter)
    if scan.gtin is not None and scan.serial is not None:
        return sgtin_epc(
            scan.gtin, scan.serial, company_prefix_length, filter_value=unit_filter, scheme=scheme
        )
    raise EpcEncodingError("EPC", "GS1 data", data, "names neither an SSCC (00) nor GTIN + serial")


def digital_link_of(epc: TagEpc, *, domain: str = CANONICAL_DL_DOMAIN) -> str:
    """The GS1 Digital Link of the key a tag EPC holds (no company prefix length needed)."""
    return identifier_dl(epc.identifier, domain=domain)


def element_string_of_epc(epc: TagEpc) -> str:
    """The GS1 element string ((00) or (01)+(21), GS-separated) of a tag EPC's key."""
    if epc.scheme is Scheme.SSCC_96:
        return build_element_string([("00", epc.key)])
    return build_element_string([("01", epc.key), ("21", epc.serial)])
