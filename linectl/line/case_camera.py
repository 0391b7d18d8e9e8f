"""The case camera on the running line: frames of closed cases, kept until the packer checks them.

With ``[aggregation] case_check = "camera"`` the line has a case camera (a frame source with
``options.role = "case-camera"``). It takes one frame of each case's top layer as the case
closes, with the seq of the last pack put into it (the PLC tracks it), and the packer pairs
the frame with the ledger case whose last unit has that seq. :class:`CaseCamera` reads frames
in a task of its own (``packing case camera``) and keeps the newest ``keep`` by seq; the
packing worker awaits the one it needs (:meth:`CaseCamera.frame_for`). The check itself
(zxing-cpp and SQLite) runs in a thread (:meth:`CaseChecks.check`), never in the pack path.

A lost case camera holds the line like any device; it counts as back once its link is up.
"""

from __future__ import annotations

import asyncio
import logging
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from drivers.interfaces import Camera, DeviceError, Frame, LinkState
from linectl.line.alarms import Alarms
from linectl.line.health import DeviceWatch

if TYPE_CHECKING:
    from linectl.aggregation.case_check import CaseCheck
    from linectl.aggregation.packing import PackingService, PackingStatus

log = logging.getLogger("linectl.runtime.packing")

ROLE = "case_camera"


class CaseCamera:
    """Frames from the case camera by seq (see the module docstring)."""

    def __init__(self, camera: Camera, health: DeviceWatch, *, keep: int = 16) -> None:
        self.camera = camera
        self.health = health
        self.keep = keep
        self.frames: OrderedDict[int, Frame] = OrderedDict()
        self.received = 0
        self._arrived = asyncio.Event()

    async def run(self) -> None:
        """Read frames for ever; the camera's own policy paces reconnects."""
        while True:
            try:
                async for frame in self.camera.frames():
                    self.health.back(ROLE)
                    self._store(frame)
                return  # the camera was closed
            except DeviceError as exc:
                self.health.lost(ROLE, exc)

    async def watch(self, every_s: float = 0.25) -> None:
        """A case camera sends nothing between cases: it is back as soon as its link is up."""
        while True:
            await asyncio.sleep(every_s)
            if self.camera.link_state is LinkState.CONNECTED:
                self.health.back(ROLE)

    def _store(self, frame: Frame) -> None:
        self.received += 1
        self.frames[frame.seq] = frame
        self.frames.move_to_end(frame.seq)
        while len(self.frames) > self.keep:
            self.frames.popitem(last=False)
        self._arrived.set()
        self._arrived = asyncio.Event()

    async def frame_for(self, seq: int, timeout_s: float) -> Frame | None:
        """The frame taken with ``seq`` (taken out of the store), or None after ``timeout_s``."""
        try:
            async with asyncio.timeout(timeout_s):
                while seq not in self.frames:
                    await self._arrived.wait()
        except TimeoutError:
            return None
        return self.frames.pop(seq)


@dataclass
class CaseChecks:
    """The packer's case check: frame paired by seq, checked in a thread, reject diverted."""

    camera: CaseCamera
    alarms: Alarms
    timeout_s: float
    doing: Callable[[str], None]
    checked: int = 0
    rejected: int = 0

    async def check(self, service: PackingService, sscc: str) -> tuple[CaseCheck, PackingStatus]:
        """Check case ``sscc`` against its frame; a reject raises ``case-diverted``.

        Ledger errors propagate (the caller holds the line for them).
        """
        self.doing(f"checking case {sscc} against its case-camera frame")
        seq = await asyncio.to_thread(service.last_seq, sscc)
        frame = None if seq is None else await self.camera.frame_for(seq, self.timeout_s)
        why = (
            f"no case-camera frame with seq {seq} within {self.timeout_s:g} s of its label"
            if seq is not None
            else "the case holds no unit"
        )

        def run() -> tuple[CaseCheck, PackingStatus]:
            check = service.check_case(sscc, frame, frame_seq=seq, missing_why=why)
            return check, service.status()

        check, view = await asyncio.to_thread(run)
        self.checked += 1
        if check.accepted:
            return check, view
        self.rejected += 1
        details = "; ".join(f.detail for f in check.findings[:5])
        more = len(check.findings) - 5
        log.warning("case %s rejected by the case check: %s", sscc, ", ".join(check.reasons))
        self.alarms.raise_(
            "case-diverted",
            f"case {sscc} rejected by the case camera check ({', '.join(check.reasons)}: "
            f"{details}{f'; {more} more' if more > 0 else ''}); to rework: "
            f"{', '.join(view.diverted)}",
            holds=False,
        )
        return check, view
