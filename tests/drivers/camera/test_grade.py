"""The approximate ISO/IEC 15415-style grade reacts to contrast, damage, stretch and lost EC."""

from __future__ import annotations

import cv2
import numpy as np
import numpy.typing as npt
import pytest

from drivers.camera.decode import DecodeResult, decode_image
from drivers.camera.grade import grade_symbol, letter_value
from simulators.marking import render_code

GS = "\x1d"
DATA = "0109506000134352" + "17281231" + "10LOT42" + GS + "21SN0001"


def printed(ink: int, board: int = 210, module_px: int = 5) -> npt.NDArray[np.uint8]:
    code = render_code(DATA, module_px=module_px, quiet_zone_modules=2)
    image = np.full((300, 300), board, dtype=np.uint8)
    h, w = code.shape
    image[50 : 50 + h, 50 : 50 + w] = np.where(code < 128, ink, board).astype(np.uint8)
    return image


def graded(image: npt.NDArray[np.uint8]) -> DecodeResult:
    result = decode_image(image)
    assert result.ok and result.text == DATA and result.grade is not None
    return result


def test_crisp_black_on_white_grades_a_on_every_parameter() -> None:
    grade = graded(printed(ink=10, board=245)).grade
    assert grade is not None
    assert grade.overall == "A" and grade.symbol_contrast > 0.85
    assert grade.fixed_pattern_damage == 0.0 and grade.axial_nonuniformity < 0.02
    assert grade.module_px == pytest.approx(5.0, abs=0.3)


def test_faded_ink_lowers_the_symbol_contrast_grade() -> None:
    strong = graded(printed(ink=40)).grade
    faded = graded(printed(ink=150)).grade
    assert strong is not None and faded is not None
    assert strong.symbol_contrast_grade in "AB" and faded.symbol_contrast_grade in "DF"
    assert faded.symbol_contrast == pytest.approx(60 / 255, abs=0.03)
    assert not faded.meets("C") and strong.meets("C")


def test_a_stretched_symbol_has_axial_nonuniformity() -> None:
    # zxing-cpp itself stops reading a DataMatrix stretched by ~5 %, so grade the geometry directly
    image = cv2.resize(printed(ink=30), None, fx=1.15, fy=1.0, interpolation=cv2.INTER_NEAREST)
    left, right = 60 * 1.15, 170 * 1.15 - 1
    corners = ((left, 60.0), (right, 60.0), (right, 169.0), (left, 169.0))
    grade = grade_symbol(image, corners, 22, 22)
    assert grade is not None
    assert grade.axial_nonuniformity == pytest.approx(0.14, abs=0.02)
    assert grade.axial_nonuniformity_grade == "F" and grade.overall == "F"
    assert grade.fixed_pattern_damage == 0.0  # the sampling grid still lands on the modules


def test_damage_fixed_by_reed_solomon_shows_in_unused_ec_and_fixed_pattern() -> None:
    image = printed(ink=30)  # the 22x22 symbol spans pixels 60..169
    image[110:120, 60:65] = 210  # two modules of the finder "L" left edge
    image[100:115, 120:135] = 210  # and nine data modules
    result = graded(image)
    grade, sym = result.grade, result.symbol
    assert grade is not None and sym is not None and sym.unused_ec is not None
    assert sym.unused_ec < 1.0 and grade.unused_ec == sym.unused_ec
    assert grade.fixed_pattern_damage == pytest.approx(2 / 84, abs=0.013)
    assert grade.fixed_pattern_damage_grade == "B" and grade.overall == "B"


def test_degenerate_geometry_gives_no_grade() -> None:
    image = np.zeros((50, 50), dtype=np.uint8)
    corners = ((10.0, 10.0), (10.0, 10.0), (10.0, 10.0), (10.0, 10.0))
    assert grade_symbol(image, corners, 10, 10) is None
    assert grade_symbol(image, corners, 1, 10) is None


@pytest.mark.parametrize("bad", ["E", "", "AB", "x"])
def test_grade_letters_are_a_to_d_and_f(bad: str) -> None:
    assert [letter_value(x) for x in "ABCDF"] == [4, 3, 2, 1, 0]
    with pytest.raises(ValueError, match="grade must be one of A, B, C, D, F"):
        letter_value(bad)
