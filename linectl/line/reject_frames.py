"""A bounded ring of the camera frames of recently rejected packs, for the HMI's rejects screen.

Keeping a frame costs the pack path one deque append of references (the frame's pixels are
immutable bytes, never copied); the oldest frame falls out when the ring is full. PNG encoding
happens only when someone asks for an image, on a worker thread (:func:`frame_png`).
"""

from __future__ import annotations

import time
from collections import deque
from dataclasses import dataclass

import cv2
import numpy as np

from drivers.interfaces import Frame, Verdict

RING_SIZE = 50


@dataclass(frozen=True, slots=True)
class RejectFrame:
    """One rejected pack: seq, when (epoch seconds), reject code, what was wrong, its frame."""

    seq: int
    at: float
    reason: str | None
    detail: str
    frame: Frame

    def summary(self) -> dict[str, object]:
        return {
            "seq": self.seq,
            "at": self.at,
            "reason": self.reason,
            "detail": self.detail,
            "width": self.frame.width,
            "height": self.frame.height,
        }


class RejectFrames:
    """The last ``size`` reject frames, newest last."""

    def __init__(self, size: int = RING_SIZE) -> None:
        self._ring: deque[RejectFrame] = deque(maxlen=size)

    def keep(self, frame: Frame, verdict: Verdict, reason: str | None, detail: str) -> None:
        """Remember ``frame`` if its pack is rejected (called on the pack path: append only)."""
        if verdict is not Verdict.GOOD:
            code = None if reason is None else str(reason)
            self._ring.append(RejectFrame(frame.seq, time.time(), code, detail, frame))

    def recent(self) -> list[RejectFrame]:
        """The kept rejects, newest first."""
        return list(reversed(self._ring))

    def get(self, seq: int) -> RejectFrame | None:
        return next((r for r in reversed(self._ring) if r.seq == seq), None)


def frame_png(frame: Frame) -> bytes:
    """The frame as a PNG (blocking: call it on a worker thread)."""
    pixels = np.frombuffer(frame.pixels, dtype=np.uint8, count=frame.width * frame.height)
    ok, png = cv2.imencode(".png", pixels.reshape(frame.height, frame.width))
    if not ok:
        raise ValueError(f"frame of pack {frame.seq} cannot be encoded as PNG")
    return bytes(png)
