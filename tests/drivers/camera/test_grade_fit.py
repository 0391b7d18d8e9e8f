"""The grade's batched corner search grades exactly like the plain one-shift-at-a-time search.

``reference_fit`` below is the straightforward form of ``grade._fit_grid``: one corner set per
sampling, scored one after the other. The product scores a corner's four trial shifts in one
batched sampling; every QualityGrade field (floats compared exactly) must come out the same on
camera-simulator frames with each image defect, on corners knocked off by a few pixels so that the
search has work to do, and on symbols at the frame's edge where the samples are clamped.
"""

from __future__ import annotations

from collections.abc import Iterator

import cv2
import numpy as np
import numpy.typing as npt
import pytest

from drivers.camera import grade
from drivers.camera.decode import DecodeOptions, decode_image
from simulators.camera_scene import FrameRenderer
from simulators.line import Defect

GS = "\x1d"
Levels = npt.NDArray[np.float32]


def reference_levels(
    image: npt.NDArray[np.uint8], corners: grade.Corners, rows: int, cols: int
) -> tuple[Levels, float, float]:
    """Module levels and module width and height for one corner set, the plain way."""
    dst = np.array(corners, dtype=np.float32)
    centre = dst.mean(axis=0, dtype=np.float32)
    away = dst - centre
    dst = dst + away / np.maximum(np.linalg.norm(away, axis=1, keepdims=True), 1e-6) * 0.7071
    homography = cv2.getPerspectiveTransform(grade._grid_outline(rows, cols), dst)
    centres = cv2.perspectiveTransform(grade._unit_grid(rows, cols), homography).reshape(-1, 2)
    top, bottom, left, right = (
        length(dst[a] - dst[b]) for a, b in ((1, 0), (2, 3), (3, 0), (2, 1))
    )
    width, height = float(top + bottom) / (2 * cols), float(left + right) / (2 * rows)
    step = max(1, round((width + height) / 8.0))
    h, w = image.shape
    x = np.clip(np.rint(centres[:, 0]), step, w - 1 - step).astype(np.intp)
    y = np.clip(np.rint(centres[:, 1]), step, h - 1 - step).astype(np.intp)
    samples = [image[y, x], image[y, x + step], image[y, x - step]]
    samples += [image[y + step, x], image[y - step, x]]
    total = np.asarray(np.sum(samples, axis=0, dtype=np.float32))
    return total / (5.0 * 255.0), width, height


def length(edge: Levels) -> np.float32:
    """Euclidean length in float32 arithmetic (np.linalg.norm of a vector may use a fused dot)."""
    return np.float32(np.sqrt(edge[0] * edge[0] + edge[1] * edge[1]))


def reference_alignment(levels: Levels) -> float:
    return float(np.mean(np.abs(levels - np.mean(levels, dtype=np.float32)), dtype=np.float32))


def reference_fit(
    image: npt.NDArray[np.uint8], corners: grade.Corners, rows: int, cols: int
) -> tuple[tuple[Levels, float, float], tuple[float, float, float]]:
    """The greedy corner search one trial at a time, as _fit_grid's docstring describes it."""
    fit = reference_levels(image, corners, rows, cols)
    measured = grade._contrast_and_modulation(fit[0])
    if measured[1] >= grade.MOD_LIMITS[0]:
        return fit, measured
    best = reference_alignment(fit[0])
    points = [list(c) for c in corners]
    for k in (1, 3, 2, 0):
        if k != 1 and measured[1] >= grade.MOD_LIMITS[0]:
            break
        for axis in (0, 1):
            start = chosen = points[k][axis]
            for delta in (-2.0, -1.0, 1.0, 2.0):
                points[k][axis] = start + delta
                p = [(x, y) for x, y in points]
                got = reference_levels(image, (p[0], p[1], p[2], p[3]), rows, cols)
                score = reference_alignment(got[0])
                if score > best:
                    best, chosen, fit = score, start + delta, got
            points[k][axis] = chosen
        measured = grade._contrast_and_modulation(fit[0])
    return fit, measured


def data_for(seq: int) -> str:
    return "0109506000134352" + "17281231" + f"10LOT{seq % 50:02d}{GS}21{seq * 7919:012d}"


Case = tuple[npt.NDArray[np.uint8], grade.Corners, int, int]


def quad(xs: list[float], ys: list[float]) -> grade.Corners:
    return (xs[0], ys[0]), (xs[1], ys[1]), (xs[2], ys[2]), (xs[3], ys[3])


def corpus() -> Iterator[Case]:
    """Decoded simulator frames (clean and each image defect, 5 and 6 px modules); each also with
    its corners knocked off by up to 3 px, and cropped so that the symbol touches the frame."""
    rng = np.random.default_rng(24)
    defects = [None, Defect.BLUR, Defect.SMUDGE, Defect.LOW_CONTRAST, Defect.MISSING_MODULES]
    for module_px in (5, 6):
        renderer = FrameRenderer(module_px=module_px, seed=module_px)
        for seq in range(1, 51):
            image, _ = renderer.render(seq, data_for(seq), defects[seq % len(defects)])
            symbol = decode_image(image, DecodeOptions(grade=False)).symbol
            grid = None if symbol is None else symbol.grid()
            if symbol is None or grid is None:
                continue
            xs = [float(p.x) for p in symbol.corners]
            ys = [float(p.y) for p in symbol.corners]
            yield image, quad(xs, ys), *grid
            dx, dy = (rng.integers(-3, 4, size=4).astype(float).tolist() for _ in "xy")
            xs = [x + d for x, d in zip(xs, dx, strict=True)]
            ys = [y + d for y, d in zip(ys, dy, strict=True)]
            yield image, quad(xs, ys), *grid
            x0, y0 = int(min(xs)) + 3, int(min(ys)) + 3  # the crop starts inside the knocked quad
            cropped = np.ascontiguousarray(image[y0:, x0:])
            yield cropped, quad([x - x0 for x in xs], [y - y0 for y in ys]), *grid


@pytest.fixture(scope="module")
def cases() -> list[Case]:
    return list(corpus())


def test_batched_search_grades_exactly_like_the_plain_search(
    cases: list[Case], monkeypatch: pytest.MonkeyPatch
) -> None:
    fast = [grade.grade_symbol(image, c, rows, cols) for image, c, rows, cols in cases]
    searched: list[bool] = []

    def plain(
        image: npt.NDArray[np.uint8], corners: grade.Corners, rows: int, cols: int
    ) -> tuple[tuple[Levels, float, float], tuple[float, float, float]]:
        fit, measured = reference_fit(image, corners, rows, cols)
        searched.append(not np.array_equal(fit[0], reference_levels(image, corners, rows, cols)[0]))
        return fit, measured

    monkeypatch.setattr(grade, "_fit_grid", plain)
    reference = [grade.grade_symbol(image, c, rows, cols) for image, c, rows, cols in cases]
    assert len(cases) >= 150 and all(g is not None for g in reference)
    assert sum(searched) >= 30  # the search moved a corner on these, so the comparison has teeth
    assert {g.overall for g in reference if g is not None} >= {"A", "B", "C", "D", "F"}
    for n, (mine, theirs) in enumerate(zip(fast, reference, strict=True)):
        assert mine == theirs, f"case {n}: {mine} != {theirs}"
