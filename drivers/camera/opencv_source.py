"""OpenCvCamera: frames from cv2.VideoCapture (USB index, RTSP/HTTP URL, video file, image series).

Every OpenCV call runs on one dedicated thread, so opening an RTSP stream or waiting for a frame
never blocks the event loop, and backends that care about thread affinity see a single thread.
Frames are converted to 8-bit grey and stamped with the time the capture thread got them. Such a
camera knows nothing of packs: ``seq`` counts frames from 1. It offers ``SeqlessFrames``: the line
pairs its frames with packs by the PLC's camera triggers and the frame stamps
(:mod:`linectl.line.frame_pairing`), with ``frame_delay_min_ms``/``frame_delay_max_ms`` the
window from the PLC seeing a trigger to the stamp of its frame, and ``frame_arrival_ms`` the
longest a stamped frame takes to reach the line (capture thread to event loop).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator
from concurrent.futures import ThreadPoolExecutor

import cv2
import numpy as np
import numpy.typing as npt

from drivers.interfaces import DeviceUnavailable, Frame
from drivers.reconnect import LinkState, ReconnectPolicy

_LIVE_PREFIXES = ("rtsp://", "rtsps://", "http://", "https://", "/dev/video")


def to_grey(raw: npt.NDArray[np.generic]) -> npt.NDArray[np.uint8]:
    """8-bit single-channel copy of a BGR, BGRA or grey image (16-bit scaled down)."""
    image: npt.NDArray[np.uint8]
    if raw.dtype == np.uint16:
        image = (raw.astype(np.uint16) >> 8).astype(np.uint8)
    elif raw.dtype == np.uint8:
        image = raw.astype(np.uint8, copy=False)
    else:
        raise ValueError(f"unsupported pixel type {raw.dtype}")
    if image.ndim == 3 and image.shape[2] == 3:
        grey = cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)
    elif image.ndim == 3 and image.shape[2] == 4:
        grey = cv2.cvtColor(image, cv2.COLOR_BGRA2GRAY)
    elif image.ndim == 3 and image.shape[2] == 1:
        grey = image[:, :, 0]
    elif image.ndim == 2:
        grey = image
    else:
        raise ValueError(f"unsupported image shape {image.shape}")
    return np.ascontiguousarray(grey, dtype=np.uint8)


class OpenCvCamera:
    """A Camera over cv2.VideoCapture; a file or image series ends; a live one retries.

    Offers: Camera, SeqlessFrames.
    """

    def __init__(
        self,
        source: int | str,
        *,
        name: str = "camera",
        width: int | None = None,
        height: int | None = None,
        policy: ReconnectPolicy | None = None,
        logger: logging.Logger | None = None,
        frame_delay_min_ms: float = 0.0,
        frame_delay_max_ms: float = 60.0,
        frame_arrival_ms: float = 20.0,
    ) -> None:
        if frame_delay_max_ms < frame_delay_min_ms:
            raise ValueError(
                f"{name}: frame_delay_max_ms {frame_delay_max_ms} is below frame_delay_min_ms "
                f"{frame_delay_min_ms}"
            )
        self.frame_delay_ms = (float(frame_delay_min_ms), float(frame_delay_max_ms))
        self.frame_arrival_ms = float(frame_arrival_ms)  # stamped on arrival: thread hand-over
        self.source = source
        self.name = name
        self.width = width
        self.height = height
        self.live = isinstance(source, int) or source.startswith(_LIVE_PREFIXES)
        self.policy = policy or ReconnectPolicy(name)
        self.logger = logger or logging.getLogger("linectl.devices.camera")
        self.state = LinkState.DISCONNECTED
        self.frames_read = 0
        self.protocol_errors = 0  # frames come through OpenCV: no wire protocol of ours
        self._cap: cv2.VideoCapture | None = None
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"capture-{name}")
        self._retry_at = 0.0

    @property
    def link_state(self) -> LinkState:
        """Where the link to the device is (connected, reconnecting, closed)."""
        return self.state

    @property
    def closed(self) -> bool:
        return self.state is LinkState.CLOSED

    def _open(self) -> cv2.VideoCapture:
        cap = cv2.VideoCapture(self.source)
        if not cap.isOpened():
            cap.release()
            raise DeviceUnavailable(f"{self.name}: cannot open video source {self.source!r}")
        if self.width:
            cap.set(cv2.CAP_PROP_FRAME_WIDTH, self.width)
        if self.height:
            cap.set(cv2.CAP_PROP_FRAME_HEIGHT, self.height)
        if self.live:
            cap.set(cv2.CAP_PROP_BUFFERSIZE, 1)  # keep latency low; not every backend obeys
        return cap

    async def connect(self) -> None:
        """Open the source on the capture thread; raises DeviceUnavailable when it cannot."""
        if self.closed:
            raise DeviceUnavailable(f"{self.name}: closed")
        if self._cap is not None:
            return
        self.state = LinkState.CONNECTING
        loop = asyncio.get_running_loop()
        try:
            self._cap = await loop.run_in_executor(self._pool, self._open)
        except DeviceUnavailable as exc:
            self.state = LinkState.DISCONNECTED
            self._retry_at = loop.time() + self.policy.on_failure(exc)
            raise
        self.policy.on_success()
        self.state = LinkState.CONNECTED

    def _grab(self, cap: cv2.VideoCapture) -> tuple[npt.NDArray[np.uint8], int] | None:
        ok, image = cap.read()
        stamp = time.time_ns()
        if not ok or image is None:
            return None
        return to_grey(image), stamp

    async def frames(self) -> AsyncIterator[Frame]:
        """Yield grey frames; a file ends the iteration, a failing live source DeviceUnavailable.

        Calling it again reopens the source (after the policy's delay): a file plays again.
        """
        loop = asyncio.get_running_loop()
        if self.closed:
            return
        if self._cap is None:
            wait = self._retry_at - loop.time()
            if wait > 0:
                await asyncio.sleep(wait)
            await self.connect()
        while (cap := self._cap) is not None:
            got = await loop.run_in_executor(self._pool, self._grab, cap)
            if got is None:
                if self.closed:
                    return
                await self._release()
                if not self.live:
                    return
                why = DeviceUnavailable(f"{self.name}: no frame from {self.source!r}")
                self._retry_at = loop.time() + self.policy.on_failure(why)
                raise why
            grey, stamp = got
            self.frames_read += 1
            height, width = grey.shape
            yield Frame(self.frames_read, width, height, grey.tobytes(), stamp)

    async def _release(self) -> None:
        cap, self._cap = self._cap, None
        if not self.closed:
            self.state = LinkState.DISCONNECTED
        if cap is not None:
            await asyncio.get_running_loop().run_in_executor(self._pool, cap.release)

    async def close(self) -> None:
        """Release the source and stop the capture thread; safe to call twice."""
        if self.closed:
            return
        self.state = LinkState.CLOSED
        await self._release()
        await asyncio.to_thread(self._pool.shutdown, wait=True)
