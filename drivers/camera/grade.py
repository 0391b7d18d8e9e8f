"""An approximate ISO/IEC 15415-style print-quality grade from one camera frame.

This is NOT a certified verifier grade. A verifier measures calibrated reflectance under controlled
light with a defined synthetic aperture and grades every parameter of ISO/IEC 15415. Here a
production camera's grey levels stand in for reflectance (0-255 scaled to 0-1, no calibration), the
aperture is a five-point average around each module centre, and only the parameters that are cheap
to estimate from the decoded position are graded:

* symbol contrast (SC): spread between the light and dark module levels (2nd/98th percentiles);
* modulation (MOD): how far module levels sit from the global threshold, the 5th percentile over
  all modules (ISO grades per codeword against the error-correction budget; this does not);
* axial non-uniformity (AN): module width versus module height from the four corners;
* fixed pattern (FPD, DataMatrix only): share of the outer finder "L" and clock-track modules that
  read the wrong colour (ISO grades each segment by damaged-module counts; this uses one share);
* unused error correction (UEC): as zxing-cpp reports it after Reed-Solomon correction.

Grade thresholds for SC, MOD, AN and UEC follow the ISO/IEC 15415 table; the FPD thresholds are
our own. The overall grade is the lowest parameter grade. It is good enough to enforce a line
minimum and to spot a printer drifting (low contrast, smudges, damage); audit-grade verification
needs a verifier.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import cv2
import numpy as np
import numpy.typing as npt

LETTERS = "FDCBA"  # index = numeric grade 0..4; ISO/IEC 15415 has no grade E


def letter_value(letter: str) -> int:
    """Numeric grade of a letter (A=4 ... F=0); raises ValueError for anything else."""
    letter = letter.strip().upper()
    if len(letter) != 1 or letter not in LETTERS:
        raise ValueError(f"grade must be one of A, B, C, D, F; got {letter!r}")
    return LETTERS.index(letter)


def _at_least(value: float, limits: tuple[float, float, float, float]) -> str:
    """Letter for a larger-is-better value with A/B/C/D lower limits."""
    for letter, limit in zip("ABCD", limits, strict=True):
        if value >= limit:
            return letter
    return "F"


def _at_most(value: float, limits: tuple[float, float, float, float]) -> str:
    """Letter for a smaller-is-better value with A/B/C/D upper limits."""
    for letter, limit in zip("ABCD", limits, strict=True):
        if value <= limit:
            return letter
    return "F"


SC_LIMITS = (0.70, 0.55, 0.40, 0.20)
MOD_LIMITS = (0.50, 0.40, 0.30, 0.20)
AN_LIMITS = (0.06, 0.08, 0.10, 0.12)
UEC_LIMITS = (0.62, 0.50, 0.37, 0.25)
FPD_LIMITS = (0.0, 0.03, 0.06, 0.09)  # our own: share of finder/clock modules read wrong


@dataclass(frozen=True, slots=True)
class QualityGrade:
    """Approximate print-quality grade of one symbol in one frame (see the module docstring)."""

    overall: str
    symbol_contrast: float
    symbol_contrast_grade: str
    modulation: float
    modulation_grade: str
    axial_nonuniformity: float
    axial_nonuniformity_grade: str
    fixed_pattern_damage: float | None
    fixed_pattern_damage_grade: str | None
    unused_ec: float | None
    unused_ec_grade: str | None
    module_px: float  # average module size (X dimension) in pixels

    def meets(self, minimum: str) -> bool:
        """True when the overall grade is at or above ``minimum`` (a letter A-F)."""
        return letter_value(self.overall) >= letter_value(minimum)

    def as_dict(self) -> dict[str, str]:
        """Flat text form for logs, ReadResult.detail and the decode command."""
        out = {
            "grade": self.overall,
            "sc": f"{self.symbol_contrast:.2f} ({self.symbol_contrast_grade})",
            "mod": f"{self.modulation:.2f} ({self.modulation_grade})",
            "an": f"{self.axial_nonuniformity:.3f} ({self.axial_nonuniformity_grade})",
            "module_px": f"{self.module_px:.1f}",
        }
        if self.fixed_pattern_damage is not None:
            out["fpd"] = f"{self.fixed_pattern_damage:.2f} ({self.fixed_pattern_damage_grade})"
        if self.unused_ec is not None:
            out["uec"] = f"{self.unused_ec:.2f} ({self.unused_ec_grade})"
        return out


Corners = tuple[tuple[float, float], tuple[float, float], tuple[float, float], tuple[float, float]]


@functools.lru_cache(maxsize=64)
def _unit_grid(rows: int, cols: int) -> npt.NDArray[np.float32]:
    """Module centres in grid units, row-major, shaped for cv2.perspectiveTransform."""
    cs, rs = np.meshgrid(np.arange(cols, dtype=np.float32), np.arange(rows, dtype=np.float32))
    grid = np.stack([cs.ravel() + 0.5, rs.ravel() + 0.5], axis=1).reshape(-1, 1, 2)
    grid.setflags(write=False)
    return grid


@functools.lru_cache(maxsize=64)
def _grid_outline(rows: int, cols: int) -> npt.NDArray[np.float32]:
    """The grid's corners in grid units (TL, TR, BR, BL), for cv2.getPerspectiveTransform."""
    src = np.array([[0, 0], [cols, 0], [cols, rows], [0, rows]], dtype=np.float32)
    src.setflags(write=False)
    return src


@functools.lru_cache(maxsize=64)
def _perimeter(rows: int, cols: int) -> tuple[npt.NDArray[np.bool_], npt.NDArray[np.bool_], int]:
    """The DataMatrix finder/clock pattern (dark where expected), its mask and the mask's size."""
    expected = np.zeros((rows, cols), dtype=np.bool_)
    expected[:, 0] = True  # solid left edge
    expected[rows - 1, :] = True  # solid bottom edge
    expected[0, 0::2] = True  # top clock track: dark on even columns
    expected[1::2, cols - 1] = True  # right clock track: dark on odd rows (from the top)
    mask = np.zeros((rows, cols), dtype=np.bool_)
    mask[:, 0] = mask[rows - 1, :] = mask[0, :] = mask[:, cols - 1] = True
    expected &= mask
    expected.setflags(write=False)
    mask.setflags(write=False)
    return expected, mask, int(np.count_nonzero(mask))


#: Edges of the corner quadrilateral as (end, start) corner indices: top, bottom, left, right.
_EDGE_END = np.array([1, 2, 3, 2], dtype=np.intp)
_EDGE_START = np.array([0, 3, 0, 1], dtype=np.intp)


@functools.lru_cache(maxsize=64)
def _neighbours(step: int, width: int) -> npt.NDArray[np.intp]:
    """Flat-index offsets of a sample's five points (centre, right, left, down, up), as a column."""
    offsets = np.array([0, step, -step, step * width, -step * width], dtype=np.intp)
    offsets = offsets.reshape(5, 1)
    offsets.setflags(write=False)
    return offsets


def _module_levels(
    image: npt.NDArray[np.uint8], corners: Corners, rows: int, cols: int
) -> tuple[npt.NDArray[np.float32], float, float]:
    """Grey level (0-1) at every module centre, row-major, and module width and height in pixels."""
    dst = np.array(corners, dtype=np.float32)
    # zxing-cpp reports the centres of the outermost pixels; move each corner half a pixel out.
    # (np.add.reduce and x.dot(x) are what np.mean and np.linalg.norm compute, without their
    # per-call overhead: this runs up to 33 times per frame on the decode threads.)
    centre = np.add.reduce(dst, axis=0) / np.float32(4)
    away = dst - centre
    norms = np.sqrt(np.add.reduce(away * away, axis=1, keepdims=True))
    dst = dst + away / np.maximum(norms, 1e-6) * 0.7071
    homography = cv2.getPerspectiveTransform(_grid_outline(rows, cols), dst)
    centres = cv2.perspectiveTransform(_unit_grid(rows, cols), homography).reshape(-1, 2)
    edges = dst[_EDGE_END] - dst[_EDGE_START]  # top, bottom, left, right
    squares = edges * edges
    lengths = np.sqrt(squares[:, 0] + squares[:, 1])
    sides = np.add.reduce(lengths.reshape(2, 2), axis=1).tolist()  # top+bottom, left+right
    width, height = sides[0] / (2 * cols), sides[1] / (2 * rows)
    step = max(1, round((width + height) / 8.0))
    h, w = image.shape
    xy = np.rint(centres)
    np.maximum(xy, step, out=xy)
    np.minimum(xy, np.array((w - 1 - step, h - 1 - step), dtype=np.float32), out=xy)
    # pixel index y * w + x: whole numbers below 2**24, so exact in float32 in any order
    at = np.dot(xy, np.array((1, w), dtype=np.float32)).astype(np.intp)
    samples = image.ravel()[at + _neighbours(step, w)]  # (5, modules)
    total = np.add.reduce(samples, axis=0, dtype=np.float32)  # whole numbers: exact in any order
    return total / (5.0 * 255.0), width, height


def _contrast_and_modulation(levels: npt.NDArray[np.float32]) -> tuple[float, float, float]:
    """Symbol contrast, modulation (5th percentile over modules) and the global threshold."""
    last = len(levels) - 1
    low, high = int(last * 0.02), int(last * 0.98)
    ordered = np.partition(levels, (low, high))  # nearest-rank percentiles, cheaper than sorting
    r_min, r_max = float(ordered[low]), float(ordered[high])
    contrast = max(r_max - r_min, 0.0)
    threshold = (r_max + r_min) / 2
    if contrast <= 0:
        return 0.0, 0.0, threshold
    distance = np.abs(levels - np.float32(threshold))
    fifth = int(last * 0.05)
    modulation = float(np.partition(distance, fifth)[fifth]) / (contrast / 2)
    return contrast, min(modulation, 1.0), threshold


def _alignment(levels: npt.NDArray[np.float32]) -> float:
    """How cleanly the samples split into dark and light: high when they sit on module centres."""
    deviation = np.abs(levels - np.float32(np.add.reduce(levels) / len(levels)))
    return float(np.float32(np.add.reduce(deviation) / len(levels)))


def _fit_grid(
    image: npt.NDArray[np.uint8], corners: Corners, rows: int, cols: int
) -> tuple[tuple[npt.NDArray[np.float32], float, float], tuple[float, float, float]]:
    """Module levels on the grid through ``corners``, nudging corners by up to 2 px if that helps,
    and the levels' contrast, modulation and threshold.

    zxing-cpp's corners can be a pixel or two off under perspective (mostly the top-right one,
    which it extrapolates from the clock tracks); samples then straddle module edges and the
    modulation reads low. A greedy search over single-corner shifts fixes that cheaply.
    """
    fit = _module_levels(image, corners, rows, cols)
    measured = _contrast_and_modulation(fit[0])
    if measured[1] >= MOD_LIMITS[0]:  # already on the module centres
        return fit, measured
    best = _alignment(fit[0])
    points = [list(c) for c in corners]
    for k in (1, 3, 2, 0):
        if k != 1 and measured[1] >= MOD_LIMITS[0]:
            break
        for axis in (0, 1):
            start = points[k][axis]
            chosen = start
            for delta in (-2.0, -1.0, 1.0, 2.0):
                points[k][axis] = start + delta
                trial = tuple((p[0], p[1]) for p in points)
                got = _module_levels(image, (trial[0], trial[1], trial[2], trial[3]), rows, cols)
                score = _alignment(got[0])
                if score > best:
                    best, chosen = score, start + delta
                    fit = got
            points[k][axis] = chosen
        measured = _contrast_and_modulation(fit[0])
    return fit, measured


def _perimeter_damage(dark: npt.NDArray[np.bool_]) -> float:
    """Share of the DataMatrix finder (left, bottom) and clock (top, right) modules read wrong."""
    expected, mask, size = _perimeter(*dark.shape)
    return float(np.count_nonzero((dark != expected) & mask)) / float(size)


def grade_symbol(
    image: npt.NDArray[np.uint8],
    corners: Corners,
    rows: int,
    cols: int,
    *,
    unused_ec: float | None = None,
    datamatrix: bool = True,
) -> QualityGrade | None:
    """Grade the symbol at ``corners`` (TL, TR, BR, BL in symbol orientation) of a grey image.

    ``rows`` x ``cols`` is the module grid. Returns None when the geometry is degenerate.
    """
    if rows < 2 or cols < 2 or image.ndim != 2:
        return None
    try:
        (levels, x_dim, y_dim), (contrast, modulation, threshold) = _fit_grid(
            image, corners, rows, cols
        )
    except cv2.error:
        return None
    module = (x_dim + y_dim) / 2
    if not np.isfinite(module) or module < 0.5:
        return None
    axial = abs(x_dim - y_dim) / module
    fpd: float | None = None
    fpd_grade: str | None = None
    if datamatrix and contrast > 0:
        fpd = _perimeter_damage((levels < threshold).reshape(rows, cols))
        fpd_grade = _at_most(fpd, FPD_LIMITS)
    uec_grade = None if unused_ec is None else _at_least(unused_ec, UEC_LIMITS)
    sc_grade = _at_least(contrast, SC_LIMITS)
    mod_grade = _at_least(modulation, MOD_LIMITS)
    an_grade = _at_most(axial, AN_LIMITS)
    letters = [sc_grade, mod_grade, an_grade]
    letters += [g for g in (fpd_grade, uec_grade) if g is not None]
    overall = LETTERS[min(LETTERS.index(g) for g in letters)]
    return QualityGrade(
        overall=overall,
        symbol_contrast=contrast,
        symbol_contrast_grade=sc_grade,
        modulation=modulation,
        modulation_grade=mod_grade,
        axial_nonuniformity=axial,
        axial_nonuniformity_grade=an_grade,
        fixed_pattern_damage=fpd,
        fixed_pattern_damage_grade=fpd_grade,
        unused_ec=unused_ec,
        unused_ec_grade=uec_grade,
        module_px=module,
    )
