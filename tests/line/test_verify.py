"""Verification of one frame against what was sent for its seq: each check names its reason."""

from __future__ import annotations

import numpy as np
import pytest

from drivers.camera.decode import DecodeOptions, DecodeResult, decode_image
from linectl.config import CodeForm
from linectl.line.reasons import RejectReason
from linectl.line.verify import (
    CodeContent,
    Expected,
    Verifier,
    grade_meets,
    mark_present,
)
from simulators.camera_scene import FrameRenderer
from simulators.line import Defect

GTIN = "09506000134352"
CONTENT = CodeContent(CodeForm.ELEMENT_STRING_DATAMATRIX, gtin=GTIN, lot="L42", expiry="281130")
RENDERER = FrameRenderer(seed=7)


def frame_of(data: str | None, seq: int = 1, defect: Defect | None = None) -> np.ndarray:
    image, _ = RENDERER.render(seq, data, defect)
    return image


def decoded(data: str | None, seq: int = 1, defect: Defect | None = None) -> DecodeResult:
    return decode_image(frame_of(data, seq, defect), DecodeOptions(), seq)


def verifier(issued: dict[str, int] | None = None, verified: set[str] | None = None) -> Verifier:
    issued = issued or {}
    done = verified or set()
    return Verifier(CONTENT, "C", issued_to=issued.get, verified=done.__contains__)


def expected(serial: str = "SN0001", seq: int = 1) -> Expected:
    return Expected(seq, serial, CONTENT.data(serial))


def test_the_code_sent_for_the_seq_is_good_with_its_grade() -> None:
    check = verifier().check(decoded(CONTENT.data("SN0001")), expected())
    assert check.good and check.reason is None
    assert check.grade in ("A", "B") and check.serial == "SN0001"


def test_an_empty_carton_is_no_print_and_an_unreadable_mark_is_no_read() -> None:
    blank = decoded(None)
    assert verifier().check(blank, expected(), mark=False).reason is RejectReason.NO_PRINT
    assert verifier().check(blank, expected(), mark=True).reason is RejectReason.NO_READ


def test_mark_detection_tells_a_faint_print_from_an_empty_carton() -> None:
    assert not mark_present(frame_of(None, seq=3))
    for seq in range(4, 10):
        assert mark_present(frame_of(CONTENT.data("SN0002"), seq, Defect.LOW_CONTRAST)), seq


def test_a_serial_sent_for_another_pack_is_a_duplicate() -> None:
    check = verifier(issued={"SN0001": 1}).check(
        decoded(CONTENT.data("SN0001"), seq=2), expected("SN0002", seq=2)
    )
    assert not check.good and check.reason is RejectReason.DUPLICATE
    assert "pack 1" in check.detail


def test_a_serial_already_verified_good_is_a_duplicate_even_on_its_own_pack() -> None:
    check = verifier(verified={"SN0001"}).check(decoded(CONTENT.data("SN0001")), expected())
    assert check.reason is RejectReason.DUPLICATE


def test_an_unknown_serial_is_wrong_content_after_asking_the_ledger() -> None:
    check = verifier().check(decoded(CONTENT.data("XX9999")), expected())
    assert check.reason is RejectReason.WRONG_CONTENT and check.ask_ledger == "XX9999"


@pytest.mark.parametrize(
    ("field", "content"),
    [
        ("lot", CodeContent(CodeForm.ELEMENT_STRING_DATAMATRIX, gtin=GTIN, lot="OTHER",
                            expiry="281130")),
        ("expiry", CodeContent(CodeForm.ELEMENT_STRING_DATAMATRIX, gtin=GTIN, lot="L42",
                               expiry="270101")),
        ("GTIN", CodeContent(CodeForm.ELEMENT_STRING_DATAMATRIX, gtin="09506000134369",
                             lot="L42", expiry="281130")),
    ],
)  # fmt: skip
def test_the_right_serial_with_another_field_is_wrong_content(
    field: str, content: CodeContent
) -> None:
    check = verifier().check(decoded(content.data("SN0001")), expected())
    assert check.reason is RejectReason.WRONG_CONTENT
    assert field in check.detail and check.ask_ledger is None


def test_a_code_that_is_not_gs1_is_not_gs1() -> None:
    import zxingcpp

    barcode = zxingcpp.create_barcode("HELLO", zxingcpp.BarcodeFormat.DataMatrix)
    image = np.asarray(barcode.to_image(scale=6, add_quiet_zones=True), dtype=np.uint8)
    canvas = np.full((240, 320), 255, dtype=np.uint8)
    canvas[40 : 40 + image.shape[0], 40 : 40 + image.shape[1]] = image
    result = decode_image(canvas, DecodeOptions(), 1)
    assert result.ok
    check = verifier().check(result, expected())
    assert check.reason is RejectReason.NOT_GS1


def test_a_low_contrast_print_is_low_grade() -> None:
    reasons = {
        verifier()
        .check(decoded(CONTENT.data("SN0001"), seq, Defect.LOW_CONTRAST), expected())
        .reason
        for seq in range(20, 26)
    }
    assert reasons <= {RejectReason.LOW_GRADE, RejectReason.NO_READ}
    assert RejectReason.LOW_GRADE in reasons


def test_a_pack_without_a_job_is_never_good() -> None:
    check = verifier().check(decoded(CONTENT.data("SN0001")), None)
    assert not check.good


@pytest.mark.parametrize(
    ("grade", "minimum", "ok"),
    [("A", "C", True), ("C", "C", True), ("D", "C", False), ("F", "E", False), ("D", "E", True),
     (None, "F", False), ("?", "F", False)],
)  # fmt: skip
def test_grade_meets_the_minimum(grade: str | None, minimum: str, ok: bool) -> None:
    assert grade_meets(grade, minimum) is ok


def test_digital_link_content_is_checked_by_its_ais() -> None:
    content = CodeContent(CodeForm.DIGITAL_LINK_DATAMATRIX, gtin=GTIN, lot="L/42", expiry="281130")
    data = content.data("SN1")
    assert data == f"https://id.gs1.org/01/{GTIN}/10/L%2F42/21/SN1?17=281130"
    ver = Verifier(content, "C", issued_to={}.get, verified=set().__contains__)
    check = ver.check(decoded(data), Expected(1, "SN1", data))
    assert check.good, check


@pytest.mark.parametrize("serial", ["1", "SN0001", "A-b_c/%21", "X" * 20])
def test_the_data_sent_is_the_gs1_element_string_of_the_pack(serial: str) -> None:
    from standards.gs1.elements import ProductCode, element_string

    assert CONTENT.data(serial) == element_string(ProductCode(GTIN, "281130", "L42", serial))


def test_a_serial_that_is_not_an_ai_21_value_is_refused() -> None:
    from standards.gs1.errors import Gs1Error

    with pytest.raises(Gs1Error):
        CONTENT.data("has space")
