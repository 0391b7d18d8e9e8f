"""The simulated case camera: a frame of each case's top layer as the case packer closes it.

It pushes frames over LCFP like the pack camera (:class:`simulators.camera.CameraSimulator`,
whose server it reuses), one per case: what lies in the case (``Box.slots``, faults included,
:mod:`simulators.case_packer`), drawn by :class:`simulators.case_scene.CaseFrameRenderer`. The
frame's seq is the seq of the last pack counted into the case, which the host pairs it by.
``cases`` keeps the ground truth of each frame by case number.
"""

from __future__ import annotations

import asyncio
import logging
import time

import numpy as np
import numpy.typing as npt

from simulators.camera import CameraSimulator
from simulators.case_packer import Box, CasePacker
from simulators.case_scene import CaseFrameRenderer, CaseTruth
from simulators.line import Pack

log = logging.getLogger("simulators.case_camera")

_Rendered = tuple[npt.NDArray[np.uint8], CaseTruth]


class CaseCameraSimulator(CameraSimulator):
    """Pushes a frame of every case the packer closes (see the module docstring)."""

    def __init__(
        self,
        packer: CasePacker,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        seed: int = 0,
        module_px: int = 4,
        name: str = "linectl case camera simulator",
    ) -> None:
        super().__init__(packer.line, host, port, name=name)
        self.packer = packer
        self.case_renderer = CaseFrameRenderer(module_px=module_px, seed=seed)
        self.cases: dict[int, CaseTruth] = {}
        self._queued: asyncio.Queue[tuple[int, asyncio.Future[_Rendered]]] = asyncio.Queue()
        packer.on_case_closed.append(self._on_case)

    def _on_pack(self, pack: Pack) -> None:
        """Packs passing the pack camera are not this camera's business."""

    def _on_case(self, box: Box) -> None:
        """A case closed: render its top layer on the worker thread, then push it."""
        if self._pool is None or self._closed or not box.seqs:
            return
        seq = box.seqs[-1]
        slots = tuple(box.slots)
        loop = asyncio.get_running_loop()
        future = loop.run_in_executor(self._pool, self._render_case, slots, seq)
        self._queued.put_nowait((box.number, future))

    def _render_case(self, slots: tuple[str | None, ...], seq: int) -> _Rendered:
        return self.case_renderer.render(slots, seq=seq)

    async def _send_loop(self) -> None:
        """Send each case's frame in the order the cases closed."""
        while True:
            number, future = await self._queued.get()
            try:
                image, truth = await future
            except Exception:
                log.exception("rendering the frame of case %d failed", number)
                continue
            self.cases[number] = truth
            self.stats.frames_rendered += 1
            self.broadcast(truth.seq, image, time.time_ns())
            self.last_seq = truth.seq
            self._sent.set()
            self._sent = asyncio.Event()
