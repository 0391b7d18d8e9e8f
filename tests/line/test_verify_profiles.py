"""Codes marked by a market code profile: exactly the profile's AIs and values, or wrong-content."""

from __future__ import annotations

import pytest

from drivers.camera.decode import DecodeOptions, DecodeResult, decode_image
from linectl.config import BUILTIN_PROFILES, CodeForm, Thresholds
from linectl.ledger import WorkOrder, WorkOrderCode, WorkOrderStatus
from linectl.line.batch import batch_checks
from linectl.line.control import CommandRefused
from linectl.line.reasons import RejectReason
from linectl.line.verify import CodeContent, Expected, Verifier
from simulators.camera_scene import FrameRenderer
from standards.gs1.ai import GS
from standards.gs1.errors import Gs1Error
from tests.aggregation.conftest import LINE

GTIN = "09506000134352"
PZN = "12345678"
RENDERER = FrameRenderer(seed=11)


def content(profile: str, **fields: str) -> CodeContent:
    return CodeContent(
        CodeForm.ELEMENT_STRING_DATAMATRIX,
        gtin=GTIN,
        lot="L42",
        expiry="281130",
        profile=BUILTIN_PROFILES[profile],
        code_fields=fields,
    )


DE = content("de-pzn", **{"710": PZN})


def decoded(data: str) -> DecodeResult:
    image, _ = RENDERER.render(1, data, None)
    return decode_image(image, DecodeOptions(), 1)


def check(data: str, code: CodeContent = DE) -> tuple[bool, RejectReason | None, str]:
    verifier = Verifier(code, "C", issued_to=lambda _: None, verified=lambda _: False)
    result = verifier.check(decoded(data), Expected(1, "SN0001", code.data("SN0001")))
    return result.good, result.reason, result.detail


def test_the_german_code_carries_the_pzn_and_its_printed_lines_are_german() -> None:
    assert DE.data("SN0001") == f"01{GTIN}1728113010L42{GS}21SN0001{GS}710{PZN}"
    assert DE.hri("SN0001") == (f"PZN: {PZN}", "SN: SN0001", "Ch.-B.: L42 Verw. bis: 281130")
    assert check(DE.data("SN0001"))[:2] == (True, None)


def test_a_code_without_the_national_number_is_wrong_content_naming_it() -> None:
    good, reason, detail = check(f"01{GTIN}1728113010L42{GS}21SN0001")
    assert (good, reason) == (False, RejectReason.WRONG_CONTENT)
    assert detail == "national number (PZN) (710) missing"


def test_another_national_number_or_an_extra_ai_is_wrong_content() -> None:
    assert check(f"01{GTIN}1728113010L42{GS}21SN0001{GS}71087654321")[2] == (
        "national number (PZN) (710) differs"
    )
    extra = f"01{GTIN}1728113010L42{GS}21SN0001{GS}710{PZN}{GS}71134009300000"
    assert check(extra)[:2] == (False, RejectReason.WRONG_CONTENT)
    assert check(extra)[2] == "AI (711) not in the profile"


def test_the_us_digital_link_profile_marks_a_uri_and_checks_it() -> None:
    us = content("us-dscsa-dl")
    uri = us.data("SN0001")
    assert uri == f"https://id.gs1.org/01/{GTIN}/10/L42/21/SN0001?17=281130"
    assert us.symbology == "datamatrix" and not us.element_string
    assert check(uri, us)[:2] == (True, None)
    assert check(uri.replace("?17=281130", ""), us)[2] == "expiry (17) missing"


def test_a_batch_without_its_national_number_cannot_be_marked() -> None:
    with pytest.raises(Gs1Error, match=r"AI \(710\) .*no value given"):
        content("de-pzn")
    with pytest.raises(Gs1Error, match=r"AI \(711\) is given but not part of the code"):
        content("de-pzn", **{"710": PZN, "711": "3400930000001"})


def order(batch: str = "B-DE") -> WorkOrder:
    return WorkOrder(batch, GTIN, "L42", "281130", 10, "DE", {}, WorkOrderStatus.STARTED,
                     "2026-12-04T10:00:00Z", None, None)  # fmt: skip


def checks(code: WorkOrderCode) -> CodeContent:
    content, _ = batch_checks(LINE, Thresholds(), order(), issued_to=lambda _: None,
                              verified=lambda _: False, code=code)  # fmt: skip
    return content


def test_the_line_marks_a_batch_by_the_profile_it_names() -> None:
    content = checks(WorkOrderCode("de-pzn", {"710": PZN}))
    assert content.ais == ("01", "17", "10", "21", "710")
    assert checks(WorkOrderCode()).ais == ("01", "17", "10", "21")


def test_a_batch_whose_profile_is_unknown_or_unfilled_is_refused_at_start() -> None:
    with pytest.raises(CommandRefused, match="batch B-DE: code profile 'it-aic' is not defined"):
        checks(WorkOrderCode("it-aic", {"716": "1"}))
    with pytest.raises(CommandRefused, match=r"'de-pzn' cannot be marked: AI \(710\)"):
        checks(WorkOrderCode("de-pzn", {}))


@pytest.mark.parametrize("name", sorted(BUILTIN_PROFILES))
def test_every_shipped_profile_marks_a_code_the_line_reads_back_as_good(name: str) -> None:
    fields = {"710": PZN, "711": "3400930000001"}
    wanted = {ai: v for ai, v in fields.items() if ai in BUILTIN_PROFILES[name].ais}
    code = content(name, **wanted)
    assert check(code.data("SN0001"), code)[:2] == (True, None)
    assert len(code.hri("SN0001")) == 3 and any("SN0001" in x for x in code.hri("SN0001"))
