"""Render what the camera sees of a pack: a printed carton flap with the code, its HRI and defects.

The scene is a 640x480 grey frame by default: a VGA-class sensor like common fixed-mount readers
(752x480 WVGA), over a field of view of about 64x48 mm, so 0.5 mm modules land at 5 px each (the
``module_px`` setting). That is enough for a robust decode and a meaningful grade while keeping a
frame at 300 KB and a decode well under a millisecond on one core.

Every frame is drawn from its own seeded generator (``seed``, ``seq``), so a frame is the same
whatever order packs are rendered in. Clean frames get nuisance variation that must still decode
(small rotation, perspective, scale, position, lighting, ink level, focus, sensor noise); a pack's
``defect`` adds damage of a random severity that either still decodes correctly (Reed-Solomon) or
does not decode at all.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np
import numpy.typing as npt

from simulators.line import Defect
from simulators.marking import bracketed_ais, is_digital_link, render_code

Image = npt.NDArray[np.uint8]
CODE_DEFECTS = frozenset(
    {Defect.BLUR, Defect.SMUDGE, Defect.LOW_CONTRAST, Defect.MISSING_MODULES, Defect.NO_PRINT}
)


@dataclass(frozen=True, slots=True)
class CameraTruth:
    """Ground truth for one frame: what is printed on the pack and what was done to the image."""

    seq: int
    printed: str | None  # the data marked on the pack; None when nothing is printed
    defect: Defect | None
    code_visible: bool  # False for an empty carton (nothing printed, or the code unencodable)
    detail: str = ""  # the drawn severity, e.g. "blur sigma=2.4"


def hri_lines(data: str) -> list[str]:
    """Human-readable lines printed beside the code: ``(01) 0950...`` per AI, or the URI."""
    if is_digital_link(data):
        return [data[i : i + 34] for i in range(0, min(len(data), 102), 34)]
    try:
        bracketed = bracketed_ais(data)
    except ValueError:
        return []
    return ["(" + part.replace("]", ") ", 1) for part in bracketed.split("[") if part]


class FrameRenderer:
    """Draws seeded camera frames of printed packs (see the module docstring)."""

    def __init__(
        self,
        width: int = 640,
        height: int = 480,
        *,
        module_px: int = 5,
        seed: int = 0,
        symbology: str = "datamatrix",
    ) -> None:
        if width < 160 or height < 120:
            raise ValueError(f"frame {width}x{height} is too small; use at least 160x120")
        self.width = width
        self.height = height
        self.module_px = module_px
        self.seed = seed
        self.symbology = symbology
        rng = np.random.default_rng([seed, 0xCA4708])
        self._cartons = [self._carton(rng) for _ in range(3)]
        noise = rng.normal(128.0, 2.5, size=(2 * height, width))
        self._noise = np.clip(noise, 0, 255).astype(np.uint8)

    # --- static parts -------------------------------------------------------------------------

    def _carton(self, rng: np.random.Generator) -> Image:
        """A board texture with uneven light and some printed artwork away from the code box."""
        h, w = self.height, self.width
        fibre = cv2.GaussianBlur(rng.normal(0.0, 6.0, size=(h, w)).astype(np.float32), (0, 0), 1.2)
        ys, xs = np.mgrid[0:h, 0:w].astype(np.float32)
        cx, cy = w * rng.uniform(0.3, 0.7), h * rng.uniform(0.3, 0.7)
        light = 1.0 - 0.12 * (((xs - cx) / w) ** 2 + ((ys - cy) / h) ** 2)
        base = float(rng.uniform(196, 214))
        board = (base + fibre) * light
        band = int(h * rng.uniform(0.08, 0.14))  # a printed colour band along the top edge
        board[:band, :] *= rng.uniform(0.45, 0.65)
        image: Image = np.clip(board, 0, 255).astype(np.uint8)
        tone = int(base * 0.35)
        for i, word in enumerate(("Pharmacorp", "20 tablets", "Rx only")):
            y = h - int(h * 0.06) - 22 * i
            cv2.putText(image, word, (int(w * 0.05), y), cv2.FONT_HERSHEY_SIMPLEX, 0.6, tone, 1)
        return image

    # --- one frame ----------------------------------------------------------------------------

    def render(
        self,
        seq: int,
        printed: str | None,
        defect: Defect | None,
        text: tuple[str, ...] | None = None,
    ) -> tuple[Image, CameraTruth]:
        """The frame for pack ``seq`` marked with ``printed`` (None: unmarked), with ``defect``;
        ``text``: the human-readable lines the printer was sent (default: made from the data)."""
        rng = np.random.default_rng([self.seed, seq])
        frame = self._cartons[int(rng.integers(len(self._cartons)))].copy()
        detail = ""
        visible = printed is not None and defect is not Defect.NO_PRINT
        if visible and printed is not None:
            try:
                code = render_code(printed, self.symbology, self.module_px, 2)
            except ValueError:
                code = None
                visible = False
                detail = "unencodable"
            if code is not None:
                detail = self._print(frame, code, printed, defect, rng, text)
        self._camera(frame, defect if visible else None, rng)
        return frame, CameraTruth(seq, printed, defect, visible, detail)

    def _print(
        self,
        frame: Image,
        code: Image,
        data: str,
        defect: Defect | None,
        rng: np.random.Generator,
        text: tuple[str, ...] | None = None,
    ) -> str:
        """Mark the code and its HRI on the carton (in place), damaged per ``defect``."""
        m = self.module_px
        coverage = (code < 128).astype(np.float32)  # 1 where ink goes
        detail = ""
        if defect is Defect.MISSING_MODULES:
            detail = _drop_modules(coverage, m, rng)
        patch = _with_hri(coverage, list(text) if text else hri_lines(data), m)
        if defect is Defect.SMUDGE:
            detail = _smudge(patch, code.shape, m, rng)
        spread = cv2.GaussianBlur(patch, (0, 0), 0.35 * m / 5 + 0.25)  # ink spreads at the edges
        patch = np.asarray(spread, dtype=np.float32)
        ph, pw = patch.shape
        # nuisance pose: rotation, scale, perspective, position
        angle = math.radians(rng.uniform(-4.0, 4.0))
        scale = rng.uniform(0.95, 1.05)
        src = np.array([[0, 0], [pw, 0], [pw, ph], [0, ph]], dtype=np.float32)
        centre = np.array([code.shape[1] / 2, ph / 2], dtype=np.float32)  # the code's centre
        rot = np.array(
            [[math.cos(angle), -math.sin(angle)], [math.sin(angle), math.cos(angle)]],
            dtype=np.float32,
        )
        jitter = rng.uniform(-0.012, 0.012, size=(4, 2)).astype(np.float32) * max(pw, ph)
        target = np.array(
            [
                self.width * rng.uniform(0.36, 0.46),
                self.height * rng.uniform(0.42, 0.58),
            ],
            dtype=np.float32,
        )
        dst = (src - centre) @ rot.T * scale + jitter + target
        x0 = max(int(np.floor(dst[:, 0].min())) - 2, 0)
        y0 = max(int(np.floor(dst[:, 1].min())) - 2, 0)
        x1 = min(int(np.ceil(dst[:, 0].max())) + 3, self.width)
        y1 = min(int(np.ceil(dst[:, 1].max())) + 3, self.height)
        if x1 <= x0 or y1 <= y0:
            return detail
        shift = np.array([x0, y0], dtype=np.float32)
        homography = cv2.getPerspectiveTransform(src, dst - shift)
        cover = cv2.warpPerspective(
            patch, homography, (x1 - x0, y1 - y0), flags=cv2.INTER_LINEAR, borderValue=0.0
        )
        roi = frame[y0:y1, x0:x1].astype(np.float32)
        if defect is Defect.LOW_CONTRAST:
            ink_ratio = rng.uniform(0.68, 0.92)  # faded or starved ink
            detail = f"ink at {ink_ratio:.2f} of the board"
        else:
            ink_ratio = rng.uniform(0.12, 0.30)
        roi -= cover * roi * (1.0 - np.float32(ink_ratio))
        frame[y0:y1, x0:x1] = np.clip(roi, 0, 255).astype(np.uint8)
        return detail

    def _camera(self, frame: Image, defect: Defect | None, rng: np.random.Generator) -> None:
        """Optics and sensor (in place): focus, motion, gain, noise."""
        if defect is Defect.BLUR:
            if rng.random() < 0.5:
                sigma = rng.uniform(1.0, 3.2) * self.module_px / 5
                frame[:] = cv2.GaussianBlur(frame, (0, 0), sigma)
            else:  # motion blur: the exposure was too long for the conveyor speed
                length = int(rng.integers(4, 16) * self.module_px / 5) | 1
                kernel = np.zeros((1, length), dtype=np.float32)
                kernel[0, :] = 1.0 / length
                frame[:] = cv2.filter2D(frame, -1, kernel)
        else:
            frame[:] = cv2.GaussianBlur(frame, (0, 0), rng.uniform(0.4, 0.8))
        gain = rng.uniform(0.92, 1.06)
        offset = int(rng.integers(0, self.height))
        noise = self._noise[offset : offset + self.height]
        frame[:] = cv2.addWeighted(frame, gain, noise, 1.0, -128.0)


def _drop_modules(coverage: npt.NDArray[np.float32], m: int, rng: np.random.Generator) -> str:
    """Dead nozzles (white rows along the print direction) and scattered missing dots."""
    rows, cols = coverage.shape[0] // m, coverage.shape[1] // m
    lines = int(rng.choice(3, p=(0.5, 0.35, 0.15)))
    for r in rng.choice(np.arange(2, rows - 2), size=min(lines, rows - 4), replace=False):
        coverage[r * m : (r + 1) * m, :] = 0.0
    share = rng.uniform(0.0, 0.06)
    holes = rng.random((rows, cols)) < share
    mask = np.repeat(np.repeat(holes, m, axis=0), m, axis=1)
    coverage[: mask.shape[0], : mask.shape[1]][mask] = 0.0
    return f"{lines} dead nozzle rows, {share:.0%} dots missing"


def _smudge(
    patch: npt.NDArray[np.float32], code_shape: tuple[int, ...], m: int, rng: np.random.Generator
) -> str:
    """Wet ink wiped across part of the code: a soft dark blob plus a streak along the travel."""
    ch, cw = code_shape[0], code_shape[1]
    cx, cy = rng.uniform(0.3, 0.7) * cw, rng.uniform(0.3, 0.7) * ch
    # big enough to be a print-quality failure: more than the error correction can restore
    ax, ay = rng.uniform(0.22, 0.4) * cw, rng.uniform(0.18, 0.35) * ch
    blob = np.zeros_like(patch)
    cv2.ellipse(blob, (int(cx), int(cy)), (int(ax), int(ay)), rng.uniform(0, 180), 0, 360, 1.0, -1)
    blob = cv2.GaussianBlur(blob, (0, 0), m * 0.8) * rng.uniform(0.8, 1.0)
    np.maximum(patch, blob, out=patch)
    y0 = int(rng.uniform(0.1, 0.7) * ch)
    y1 = min(y0 + int(rng.uniform(0.1, 0.35) * ch), ch)
    length = int(rng.uniform(0.5, 3.0) * m) | 1
    kernel = np.full((1, length), 1.0 / length, dtype=np.float32)
    band = patch[y0:y1, :cw]
    band[:] = np.maximum(band, cv2.filter2D(band, -1, kernel, anchor=(0, 0)))
    return f"blob {2 * ax / m:.1f}x{2 * ay / m:.1f} modules, streak rows {y0}-{y1} len {length}px"


def _with_hri(
    coverage: npt.NDArray[np.float32], lines: list[str], m: int
) -> npt.NDArray[np.float32]:
    """The code's coverage map with the HRI lines printed to its right."""
    h, w = coverage.shape
    if not lines:
        return coverage
    scale = 0.38 * m / 5 + 0.1
    (tw, th), _ = cv2.getTextSize(max(lines, key=len), cv2.FONT_HERSHEY_SIMPLEX, scale, 1)
    gap = 2 * m
    width = w + gap + tw + 2 * m
    text = np.zeros((h, width - w), dtype=np.uint8)
    pitch = max(th + 6, h // max(len(lines), 1) - 2)
    for i, line in enumerate(lines[: max(h // (th + 4), 1)]):
        y = 2 * m + th + i * pitch
        cv2.putText(text, line, (gap, y), cv2.FONT_HERSHEY_SIMPLEX, scale, 255, 1, cv2.LINE_AA)
    patch = np.empty((h, width), dtype=np.float32)
    patch[:, :w] = coverage
    patch[:, w:] = text * np.float32(1 / 255)
    return patch
