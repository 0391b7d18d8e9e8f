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
import math
from dataclasses import dataclass
from typing import cast

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
def _perimeter(rows: int, cols: int) -> tuple[npt.NDArray[np.intp], npt.NDArray[np.bool_]]:
    """The DataMatrix finder/clock modules (row-major indices) and which of them are dark."""
    expected = np.zeros((rows, cols), dtype=np.bool_)
    expected[:, 0] = True  # solid left edge
    expected[rows - 1, :] = True  # solid bottom edge
    expected[0, 0::2] = True  # top clock track: dark on even columns
    expected[1::2, cols - 1] = True  # right clock track: dark on odd rows (from the top)
    mask = np.zeros((rows, cols), dtype=np.bool_)
    mask[:, 0] = mask[rows - 1, :] = mask[0, :] = mask[:, cols - 1] = True
    at, dark = np.flatnonzero(mask), expected[mask]
    at.setflags(write=False)
    dark.setflags(write=False)
    return at, dark


#: Each corner's successor around the quadrilateral (TL, TR, BR, BL): corner to successor gives
#: the top, right, bottom (reversed) and left (reversed) edges.
_NEXT_CORNER = np.array([1, 2, 3, 0], dtype=np.intp)
#: The corner search's shifts of one coordinate, in pixels, in the order they are tried.
_DELTAS = (-2.0, -1.0, 1.0, 2.0)
# float32 constants, made once: the arithmetic below is float32 throughout
_FOUR = np.float32(4)
_HALF_DIAGONAL = np.float32(0.7071)
_TINY = np.float32(1e-6)
_FULL_SCALE = np.float32(5.0 * 255.0)  # five samples of 0-255


@functools.lru_cache(maxsize=8)
def _shifts(corner: int, axis: int) -> npt.NDArray[np.float64]:
    """The search's trial offsets of one corner coordinate, shaped trials x 4 corners x 2."""
    shifts = np.zeros((len(_DELTAS), 4, 2))
    shifts[:, corner, axis] = _DELTAS
    shifts.setflags(write=False)
    return shifts


@functools.lru_cache(maxsize=64)
def _neighbours(step: int, width: int) -> npt.NDArray[np.intp]:
    """Flat-index offsets of a sample's five points (centre, right, left, down, up), as a column."""
    offsets = np.array([0, step, -step, step * width, -step * width], dtype=np.intp)
    offsets = offsets.reshape(5, 1)
    offsets.setflags(write=False)
    return offsets


@functools.lru_cache(maxsize=8)
def _row_stride(width: int) -> npt.NDArray[np.float32]:
    """(1, width): a pixel's flat index is its (x, y) dotted with this."""
    stride = np.array((1, width), dtype=np.float32)
    stride.setflags(write=False)
    return stride


def _clamp(xy: npt.NDArray[np.float32], steps: list[int], w: int, h: int) -> None:
    """Keep every sample's five points inside the image: centres ``xy`` (quads x modules x 2)
    at least each quad's step from each edge.

    Looking at the two extremes first is cheaper than clamping, and on most frames the symbol
    is well inside the image.
    """
    step = steps[0]
    if steps.count(step) == len(steps):
        if xy.min() >= step and xy.max() <= min(w, h) - 1 - step:
            return
        np.maximum(xy, step, out=xy)
        np.minimum(xy[..., 0], w - 1 - step, out=xy[..., 0])
        np.minimum(xy[..., 1], h - 1 - step, out=xy[..., 1])
        return
    low = np.array(steps, dtype=np.float32).reshape(len(steps), 1)  # whole numbers: exact
    np.maximum(xy, low[..., np.newaxis], out=xy)
    np.minimum(xy[..., 0], (w - 1) - low, out=xy[..., 0])
    np.minimum(xy[..., 1], (h - 1) - low, out=xy[..., 1])


def _module_levels(
    image: npt.NDArray[np.uint8], quads: npt.NDArray[np.float32], rows: int, cols: int
) -> tuple[npt.NDArray[np.float32], list[tuple[float, float]]]:
    """Grey levels (0-1) at the module centres of the grid through each of ``quads`` (corner sets,
    shaped quads x 4 x 2), one row-major row per quad, and each grid's module width and height.

    The corner search scores its four shifts of a corner in one call: numpy's cost here is per
    call far more than per element, so only the two cv2 calls run once per quad. (Explicit sums
    and in-place operators compute what np.mean and np.linalg.norm would, in float32 as they do,
    with fewer calls.)
    """
    count = len(quads)
    # zxing-cpp reports the centres of the outermost pixels; move each corner half a pixel out.
    centre = np.add.reduce(quads, axis=1, keepdims=True)
    centre /= _FOUR
    away = quads - centre
    squares = away * away
    norms = squares[..., :1] + squares[..., 1:]  # x*x + y*y, as a reduction adds them
    np.sqrt(norms, out=norms)
    np.maximum(norms, _TINY, out=norms)
    away /= norms
    away *= _HALF_DIAGONAL
    dst = np.add(quads, away, out=away)
    outline, grid = _grid_outline(rows, cols), _unit_grid(rows, cols)
    xy: npt.NDArray[np.float32]
    if count == 1:  # the first fit, most frames' only one: no list to build
        homography = cv2.getPerspectiveTransform(outline, dst[0])
        xy = cast("npt.NDArray[np.float32]", cv2.perspectiveTransform(grid, homography))
    else:
        xy = np.concatenate(
            [
                cv2.perspectiveTransform(grid, cv2.getPerspectiveTransform(outline, quad))
                for quad in dst
            ]
        )
    edges = dst[:, _NEXT_CORNER]
    edges -= dst  # top, right, -bottom, -left: the sign squares away
    edges *= edges
    lengths = edges[..., 0] + edges[..., 1]
    np.sqrt(lengths, out=lengths)
    sides = (lengths[:, :2] + lengths[:, 2:]).tolist()  # top + bottom, right + left
    sizes = [(across / (2 * cols), down / (2 * rows)) for across, down in sides]
    steps = [max(1, round((width + height) / 8.0)) for width, height in sizes]
    h, w = image.shape
    np.rint(xy, out=xy)
    xy = xy.reshape(count, -1, 2)
    _clamp(xy, steps, w, h)
    # pixel index y * w + x: whole numbers below 2**24, so exact in float32 in any order
    at = np.dot(xy.reshape(-1, 2), _row_stride(w)).astype(np.intp).reshape(count, 1, -1)
    if steps.count(steps[0]) == len(steps):
        at = at + _neighbours(steps[0], w)
    else:
        at = at + np.stack([_neighbours(step, w) for step in steps])
    # five samples per module, summed: whole numbers, so exact in float32 in any order
    levels = np.add.reduce(image.ravel()[at], axis=1, dtype=np.float32)
    levels /= _FULL_SCALE
    return levels, sizes


def _contrast_and_modulation(levels: npt.NDArray[np.float32]) -> tuple[float, float, float]:
    """Symbol contrast, modulation (5th percentile over modules) and the global threshold."""
    last = len(levels) - 1
    low, high = int(last * 0.02), int(last * 0.98)
    ordered = levels.copy()  # partitioned in place: np.partition's wrapper costs a call more
    ordered.partition((low, high))  # nearest-rank percentiles, cheaper than sorting
    r_min, r_max = float(ordered[low]), float(ordered[high])
    contrast = max(r_max - r_min, 0.0)
    threshold = (r_max + r_min) / 2
    if contrast <= 0:
        return 0.0, 0.0, threshold
    distance = np.subtract(levels, np.float32(threshold), out=ordered)
    np.abs(distance, out=distance)
    fifth = int(last * 0.05)
    distance.partition(fifth)
    modulation = float(distance[fifth]) / (contrast / 2)
    return contrast, min(modulation, 1.0), threshold


def _alignment(levels: npt.NDArray[np.float32]) -> list[float]:
    """How cleanly each row of samples splits into dark and light: high on module centres."""
    count = levels.shape[1]
    deviation = np.abs(levels - np.add.reduce(levels, axis=1, keepdims=True) / count)
    scores: list[float] = (np.add.reduce(deviation, axis=1) / count).tolist()
    return scores


def _fit_grid(
    image: npt.NDArray[np.uint8], corners: Corners, rows: int, cols: int
) -> tuple[tuple[npt.NDArray[np.float32], float, float], tuple[float, float, float]]:
    """Module levels on the grid through ``corners``, nudging corners by up to 2 px if that helps,
    and the levels' contrast, modulation and threshold.

    zxing-cpp's corners can be a pixel or two off under perspective (mostly the top-right one,
    which it extrapolates from the clock tracks); samples then straddle module edges and the
    modulation reads low. A greedy search over single-corner shifts fixes that cheaply: for each
    corner and axis in turn, the shift of -2, -1, +1 or +2 px that aligns the samples best (the
    first one on a tie), if it beats the current corners.
    """
    levels, sizes = _module_levels(image, np.array([corners], dtype=np.float32), rows, cols)
    fit = (levels[0], sizes[0][0], sizes[0][1])
    measured = _contrast_and_modulation(fit[0])
    if measured[1] >= MOD_LIMITS[0]:  # already on the module centres
        return fit, measured
    best = _alignment(levels)[0]
    points = np.array(corners, dtype=np.float64)  # shifted in float64, as Python floats add
    for k in (1, 3, 2, 0):
        if k != 1 and measured[1] >= MOD_LIMITS[0]:
            break
        moved = False
        for axis in (0, 1):
            trials = points + _shifts(k, axis)
            levels, sizes = _module_levels(image, trials.astype(np.float32), rows, cols)
            for n, score in enumerate(_alignment(levels)):
                if score > best:
                    best, points[k, axis], moved = score, trials[n, k, axis], True
                    fit = (levels[n], sizes[n][0], sizes[n][1])
        if moved:  # else the fit and so its measures are those of the corner before
            measured = _contrast_and_modulation(fit[0])
    return fit, measured


def _perimeter_damage(
    levels: npt.NDArray[np.float32], threshold: float, rows: int, cols: int
) -> float:
    """Share of the DataMatrix finder (left, bottom) and clock (top, right) modules read wrong."""
    at, dark = _perimeter(rows, cols)
    return float(np.count_nonzero((levels[at] < threshold) != dark)) / float(len(at))


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
    if not math.isfinite(module) or module < 0.5:
        return None
    axial = abs(x_dim - y_dim) / module
    fpd: float | None = None
    fpd_grade: str | None = None
    if datamatrix and contrast > 0:
        fpd = _perimeter_damage(levels, threshold, rows, cols)
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
