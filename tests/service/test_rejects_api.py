"""GET /v1/rejects and /v1/rejects/{seq}.png: the daemon's ring of reject frames, over a socket."""

from __future__ import annotations

from collections.abc import AsyncIterator

import aiohttp
import cv2
import numpy as np
import pytest

from drivers.interfaces import Frame, Verdict
from linectl.identity import Identity
from linectl.line.reject_frames import RejectFrames
from linectl.service.api import ControlApi, start_control_api
from tests.service.standin_line import StandInLine
from tests.service.test_control_api import (  # the users, their sessions, the identity
    AUTH,
    TCP_ANY_PORT,
    accounts,  # noqa: F401
    identity,  # noqa: F401
    people,  # noqa: F401
)


def frame(seq: int, shade: int) -> Frame:
    pixels = np.full((40, 60), shade, dtype=np.uint8)
    pixels[10:20, 10:30] = 255 - shade
    return Frame(seq, 60, 40, pixels.tobytes(), 0)


def test_the_ring_keeps_only_rejects_and_only_the_newest() -> None:
    ring = RejectFrames(size=3)
    for seq in range(1, 8):
        verdict = Verdict.GOOD if seq % 2 == 0 else Verdict.REJECT
        ring.keep(frame(seq, 40), verdict, "no-read" if verdict else None, "")
    assert [r.seq for r in ring.recent()] == [7, 5, 3]  # newest first, bounded
    assert ring.get(1) is None and ring.get(4) is None


@pytest.fixture
async def api(identity: Identity) -> AsyncIterator[tuple[ControlApi, StandInLine]]:  # noqa: F811
    line = StandInLine()
    served = await start_control_api(line, TCP_ANY_PORT, identity=identity)
    yield served, line
    await served.close()


async def test_the_api_lists_recent_rejects_and_serves_each_frame_as_png(
    api: tuple[ControlApi, StandInLine],
) -> None:
    served, line = api
    line.rejects.keep(frame(41, 90), Verdict.REJECT, "low-grade", "grade D, needs C")
    async with aiohttp.ClientSession(headers=AUTH) as http:
        async with http.get(served.url + "/v1/rejects") as r:
            assert r.status == 200
            (kept,) = (await r.json())["rejects"]
        assert kept["seq"] == 41 and kept["reason"] == "low-grade"
        assert kept["detail"] == "grade D, needs C" and (kept["width"], kept["height"]) == (60, 40)
        async with http.get(served.url + "/v1/rejects/41.png") as r:
            assert r.status == 200 and r.content_type == "image/png"
            png = await r.read()
        image = cv2.imdecode(np.frombuffer(png, np.uint8), cv2.IMREAD_GRAYSCALE)
        assert image.shape == (40, 60) and image.tobytes() == frame(41, 90).pixels
        async with http.get(served.url + "/v1/rejects/42.png") as r:
            assert r.status == 404
        async with http.get(served.url + "/v1/rejects") as r:
            assert r.status == 200
    async with aiohttp.ClientSession() as anonymous, anonymous.get(served.url + "/v1/rejects") as r:
        assert r.status == 401
