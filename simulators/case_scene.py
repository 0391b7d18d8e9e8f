"""Render what a camera tunnel sees of a case: the top layer of packs, each with its code.

A grid of pack tops (``columns`` wide, as many rows as needed) seen from above, every pack
carrying its GS1 DataMatrix as the printer marked it. Each pack sits a little off its slot and
a little turned (a few degrees); the packs' edges are shadowed; the light falls off towards the
corners; the optics blur slightly and the sensor adds noise. ``None`` in the codes leaves a
slot empty (a missing pack). Every frame is drawn from its own seeded generator (``seed``,
``seq``).

Packs lie the way the packer put them: all the same way up. The daemon's reader settings make
no 90/180/270-degree passes (DESIGN.md section 7), and with them zxing-cpp 3.1 does not find a
DataMatrix turned by a quarter or half turn among many symbols; ``quarter_turns`` turns the
whole case, for tests that show this.

Sizing: at ``module_px`` 4 a 24x24 code with its quiet zone is about 112 px, so a case of
10 x 10 packs is a frame of about 1,350 x 1,350 px, what a 2-megapixel tunnel camera gives.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import cv2
import numpy as np
import numpy.typing as npt

from simulators.marking import render_code

Image = npt.NDArray[np.uint8]


@dataclass(frozen=True, slots=True)
class CaseTruth:
    """Ground truth of a case frame: the code of each slot, row by row (None: no pack)."""

    seq: int
    codes: tuple[str | None, ...]
    columns: int
    rows: int

    @property
    def printed(self) -> tuple[str, ...]:
        """The codes actually in the frame, in slot order."""
        return tuple(c for c in self.codes if c is not None)


class CaseFrameRenderer:
    """Draws seeded top-layer frames of cases (see the module docstring)."""

    def __init__(self, *, module_px: int = 4, seed: int = 0, gap_px: int = 18) -> None:
        if module_px < 2:
            raise ValueError(
                f"module_px must be at least 2 for a readable case frame, got {module_px}"
            )
        self.module_px = module_px
        self.seed = seed
        self.gap_px = gap_px

    def render(
        self,
        codes: Sequence[str | None],
        *,
        columns: int | None = None,
        seq: int = 0,
        quarter_turns: int = 0,
    ) -> tuple[Image, CaseTruth]:
        """The frame of one case whose top layer carries ``codes`` (GS1 element strings)."""
        if not codes:
            raise ValueError("a case frame needs at least one slot")
        cols = columns or math.ceil(math.sqrt(len(codes)))
        rows = math.ceil(len(codes) / cols)
        rng = np.random.default_rng([self.seed, seq, 0xCA5E])
        marks = [
            None if c is None else render_code(c, "datamatrix", self.module_px, 2) for c in codes
        ]
        side = max((m.shape[0] for m in marks if m is not None), default=24 * self.module_px)
        cell = int(side * 1.12) + self.gap_px
        margin = cell // 3
        height, width = rows * cell + 2 * margin, cols * cell + 2 * margin
        frame = self._case(height, width, rng)
        for index, mark in enumerate(marks):
            r, c = divmod(index, cols)
            top, left = margin + r * cell, margin + c * cell
            self._pack(frame, top, left, cell, mark is None, rng)
            if mark is not None:
                self._print(frame, mark, top + cell / 2, left + cell / 2, cell, rng)
        self._optics(frame, rng)
        image: Image = np.clip(frame, 0, 255).astype(np.uint8)
        if quarter_turns % 4:
            image = np.ascontiguousarray(np.rot90(image, quarter_turns % 4))
        return image, CaseTruth(seq, tuple(codes), cols, rows)

    @staticmethod
    def _case(height: int, width: int, rng: np.random.Generator) -> npt.NDArray[np.float32]:
        """The inside of the case: dark corrugated board, lit unevenly."""
        base = float(rng.uniform(70, 95))
        board = np.full((height, width), base, dtype=np.float32)
        board += cv2.GaussianBlur(
            rng.normal(0.0, 5.0, size=(height, width)).astype(np.float32), (0, 0), 2.0
        )
        return board

    def _pack(
        self,
        frame: npt.NDArray[np.float32],
        top: int,
        left: int,
        cell: int,
        empty: bool,
        rng: np.random.Generator,
    ) -> None:
        """One pack's top (a light carton), or the dark bottom of an empty slot."""
        inset = int(rng.integers(2, max(3, self.gap_px // 3)))
        y0, x0 = top + inset, left + inset
        y1, x1 = top + cell - inset, left + cell - inset
        if empty:
            frame[y0:y1, x0:x1] *= np.float32(0.6)
            return
        tone = float(rng.uniform(195, 222))
        frame[y0:y1, x0:x1] = tone
        ys = np.linspace(-1.0, 1.0, y1 - y0, dtype=np.float32)[:, None]
        xs = np.linspace(-1.0, 1.0, x1 - x0, dtype=np.float32)[None, :]
        frame[y0:y1, x0:x1] -= np.float32(10.0) * (xs * xs + ys * ys)  # edges shadowed

    def _print(
        self,
        frame: npt.NDArray[np.float32],
        mark: Image,
        cy: float,
        cx: float,
        cell: int,
        rng: np.random.Generator,
    ) -> None:
        """Mark the code on the pack top at (cy, cx): turned a little, shifted, ink density."""
        ink = (mark < 128).astype(np.float32)
        angle = rng.uniform(-4.0, 4.0)
        shift = rng.uniform(-0.04, 0.04, size=2) * cell
        h, w = ink.shape
        matrix = cv2.getRotationMatrix2D((w / 2, h / 2), angle, 1.0)
        matrix[0, 2] += cx + shift[0] - w / 2
        matrix[1, 2] += cy + shift[1] - h / 2
        size = (frame.shape[1], frame.shape[0])
        # warp only the cell's neighbourhood: the whole frame is large for 100 packs
        y0, x0 = max(int(cy - cell), 0), max(int(cx - cell), 0)
        y1, x1 = min(int(cy + cell), size[1]), min(int(cx + cell), size[0])
        matrix[0, 2] -= x0
        matrix[1, 2] -= y0
        cover = cv2.warpAffine(
            ink, matrix, (x1 - x0, y1 - y0), flags=cv2.INTER_LINEAR, borderValue=0.0
        )
        density = np.float32(1.0 - rng.uniform(0.12, 0.28))
        roi = frame[y0:y1, x0:x1]
        roi -= cover * roi * density

    def _optics(self, frame: npt.NDArray[np.float32], rng: np.random.Generator) -> None:
        """Light fall-off, focus, sensor noise (in place), then 8-bit."""
        h, w = frame.shape
        ys = np.linspace(-1.0, 1.0, h, dtype=np.float32)[:, None]
        xs = np.linspace(-1.0, 1.0, w, dtype=np.float32)[None, :]
        frame *= np.float32(1.0) - np.float32(rng.uniform(0.08, 0.16)) * (xs * xs + ys * ys) / 2
        frame[:] = cv2.GaussianBlur(frame, (0, 0), rng.uniform(0.5, 0.9))
        frame += rng.normal(0.0, rng.uniform(1.5, 3.0), size=frame.shape).astype(np.float32)
