"""A ZPL format taken apart into its fields, and the pixel checks made on its rendered images.

A format is cut at its fields (each ``^FO ... ^FS``): the header (``^XA``, ``^CI28``, ``^PW``,
``^LL``, the ``^FX`` comment), the fields in order, the trailer (``^PQ1^XZ``). The same renderer
draws the whole format, then its text fields alone and each symbol alone; the union of those
partial images must be the whole label pixel for pixel, which shows that they are the same
drawing. A symbol's box is the bounding box of its ink widened by its quiet zone, in modules
read from its own command (``^BXN,m``: 1 module; ``^BYm`` with ``^BC``: 10 modules left and
right and 1 above and below; ``^BQN,2,m``: 4 modules).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

Image = npt.NDArray[np.uint8]
INK = 128  # rendered images are black (0) on white (255)


@dataclass(frozen=True)
class Segment:
    """One ``^FO ... ^FS`` field of a format."""

    text: str
    x: int
    y: int

    @property
    def kind(self) -> str:
        if "^BX" in self.text:
            return "datamatrix"
        if "^BC" in self.text:
            return "gs1-128"
        if "^BQ" in self.text:
            return "qr"
        return "text"

    @property
    def quiet(self) -> tuple[int, int]:
        """Quiet zone (left/right, top/bottom) in dots."""
        if self.kind == "datamatrix":
            m = int(re.search(r"\^BX[NRIB],(\d+)", self.text).group(1))  # type: ignore[union-attr]
            return m, m
        if self.kind == "gs1-128":
            m = int(re.search(r"\^BY(\d+)", self.text).group(1))  # type: ignore[union-attr]
            return 10 * m, m
        if self.kind == "qr":
            m = int(re.search(r"\^BQ[NRIB],2,(\d+)", self.text).group(1))  # type: ignore[union-attr]
            return 4 * m, 4 * m
        return 0, 0

    @property
    def where(self) -> str:
        return f"{self.kind} at ({self.x},{self.y})"


@dataclass(frozen=True)
class Format:
    """A ``^XA ... ^XZ`` format cut into header, fields and trailer (see the module docstring)."""

    header: str
    segments: tuple[Segment, ...]
    trailer: str
    width: int
    height: int

    @classmethod
    def cut(cls, zpl: str) -> Format:
        first = zpl.index("^FO")
        header, rest = zpl[:first], zpl[first:]
        segments: list[Segment] = []
        while rest.startswith("^FO"):
            end = rest.index("^FS") + 3
            x, y = (int(v) for v in re.match(r"\^FO(\d+),(\d+)", rest).groups())  # type: ignore[union-attr]
            segments.append(Segment(rest[:end], x, y))
            rest = rest[end:].lstrip("\n")
        width = int(re.search(r"\^PW(\d+)", header).group(1))  # type: ignore[union-attr]
        height = int(re.search(r"\^LL(\d+)", header).group(1))  # type: ignore[union-attr]
        assert cls(header, tuple(segments), rest, width, height).only(segments) == zpl
        return cls(header, tuple(segments), rest, width, height)

    def only(self, segments: list[Segment] | tuple[Segment, ...]) -> str:
        """The same format with only ``segments`` among its fields."""
        return self.header + "".join(s.text + "\n" for s in segments) + self.trailer

    @property
    def texts(self) -> list[Segment]:
        return [s for s in self.segments if s.kind == "text"]

    @property
    def symbols(self) -> list[Segment]:
        return [s for s in self.segments if s.kind != "text"]

    def enlarged_texts(self) -> str:
        """The text fields alone on a canvas twice as wide and long (to see text off the label)."""
        header = self.header.replace(f"^PW{self.width}", f"^PW{2 * self.width}")
        header = header.replace(f"^LL{self.height}", f"^LL{2 * self.height}")
        return header + "".join(s.text + "\n" for s in self.texts) + self.trailer


Box = tuple[int, int, int, int]  # left, top, right, bottom (exclusive), in dots


def ink_box(image: Image) -> Box:
    rows = np.flatnonzero((image < INK).any(axis=1))
    cols = np.flatnonzero((image < INK).any(axis=0))
    assert rows.size and cols.size, "the field drew nothing"
    return int(cols[0]), int(rows[0]), int(cols[-1]) + 1, int(rows[-1]) + 1


def widened(box: Box, quiet: tuple[int, int]) -> Box:
    return box[0] - quiet[0], box[1] - quiet[1], box[2] + quiet[0], box[3] + quiet[1]


def ink_in(image: Image, box: Box) -> int:
    left, top, right, bottom = (max(0, v) for v in box)
    return int((image[top:bottom, left:right] < INK).sum())


def overlaps(text: Image, symbols: list[tuple[Segment, Image]]) -> list[str]:
    """Each text pixel in a symbol's box or quiet zone, and each symbol in another's, named."""
    found: list[str] = []
    for segment, image in symbols:
        box = widened(ink_box(image), segment.quiet)
        if (count := ink_in(text, box)) > 0:
            found.append(f"{count} text pixels in the {segment.where} or its quiet zone {box}")
        for other, other_image in symbols:
            if other is not segment and (count := ink_in(other_image, box)) > 0:
                found.append(f"{count} pixels of the {other.where} in the {segment.where}'s box")
    return found
