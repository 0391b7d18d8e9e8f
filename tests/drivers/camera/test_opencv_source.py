"""OpenCvCamera over real OpenCV sources: a lossless video file and an image-sequence pattern."""

from __future__ import annotations

import asyncio
import contextlib
from pathlib import Path

import cv2
import numpy as np
import numpy.typing as npt
import pytest

from drivers.camera.decode import decode_frame
from drivers.camera.opencv_source import OpenCvCamera, to_grey
from drivers.interfaces import Camera, DeviceUnavailable, Frame, SeqlessFrames
from drivers.reconnect import LinkState
from simulators.camera_scene import FrameRenderer

GS = "\x1d"


def data(i: int) -> str:
    return "0109506000134352" + "17281231" + "10LOT42" + GS + f"21SN{i:06d}"


def scenes(n: int) -> list[npt.NDArray[np.uint8]]:
    renderer = FrameRenderer(seed=5)
    return [renderer.render(i, data(i), None)[0] for i in range(1, n + 1)]


async def read_all(cam: OpenCvCamera) -> list[Frame]:
    got: list[Frame] = []
    async with asyncio.timeout(30), contextlib.aclosing(cam.frames()) as frames:  # type: ignore[type-var]
        async for frame in frames:
            got.append(frame)
    return got


async def test_a_lossless_video_file_yields_grey_frames_that_decode(tmp_path: Path) -> None:
    path = str(tmp_path / "line.avi")
    images = scenes(4)
    writer = cv2.VideoWriter(path, cv2.VideoWriter_fourcc(*"FFV1"), 25, (640, 480), isColor=False)
    if not writer.isOpened():
        pytest.skip("this OpenCV build cannot write FFV1 video")
    for image in images:
        writer.write(image)
    writer.release()
    cam = OpenCvCamera(path)
    assert isinstance(cam, Camera) and not cam.live
    await cam.connect()
    frames = await read_all(cam)
    assert [f.seq for f in frames] == [1, 2, 3, 4]
    assert all((f.width, f.height, len(f.pixels)) == (640, 480, 640 * 480) for f in frames)
    assert [decode_frame(f).text for f in frames] == [data(i) for i in range(1, 5)]
    assert cam.state is LinkState.DISCONNECTED  # the file has ended
    await cam.close()
    await cam.close()


async def test_an_image_sequence_pattern_is_a_source_too(tmp_path: Path) -> None:
    for i, image in enumerate(scenes(3)):
        colour = cv2.cvtColor(image, cv2.COLOR_GRAY2BGR)  # colour input is turned to grey
        cv2.imwrite(str(tmp_path / f"frame{i:03d}.png"), colour)
    cam = OpenCvCamera(str(tmp_path / "frame%03d.png"))
    await cam.connect()
    frames = await read_all(cam)
    assert [decode_frame(f).text for f in frames] == [data(i) for i in range(1, 4)]
    expected = scenes(1)[0].tobytes()
    assert frames[0].pixels == expected  # PNG is lossless, grey survives the BGR round trip
    await cam.close()


async def test_a_missing_source_is_device_unavailable(tmp_path: Path) -> None:
    cam = OpenCvCamera(str(tmp_path / "nothing-%03d.png"))
    with pytest.raises(DeviceUnavailable, match="cannot open video source"):
        await cam.connect()
    assert cam.state is LinkState.DISCONNECTED and cam.policy.failures == 1
    await cam.close()
    assert await read_all(cam) == []


def test_live_sources_are_recognised() -> None:
    assert OpenCvCamera(0).live and OpenCvCamera("rtsp://10.0.0.9/stream").live
    assert not OpenCvCamera("/data/run.avi").live


def test_to_grey_handles_bgr_bgra_grey_and_16_bit() -> None:
    bgr = np.zeros((2, 3, 3), dtype=np.uint8)
    bgr[..., 2] = 255  # pure red
    assert to_grey(bgr)[0, 0] == 76  # ITU-R BT.601 weight of red
    bgra = np.dstack([bgr, np.full((2, 3), 7, dtype=np.uint8)])
    assert to_grey(bgra)[0, 0] == 76
    assert to_grey(np.full((2, 3), 9, dtype=np.uint8)).tolist() == [[9, 9, 9], [9, 9, 9]]
    assert to_grey(np.full((2, 3), 0x1234, dtype=np.uint16))[0, 0] == 0x12
    with pytest.raises(ValueError, match="unsupported pixel type float32"):
        to_grey(np.zeros((2, 2), dtype=np.float32))


def test_its_frames_carry_no_pack_seq_so_the_line_pairs_them_by_trigger() -> None:
    cam = OpenCvCamera(0, frame_delay_min_ms=-5, frame_delay_max_ms=40, frame_arrival_ms=30)
    assert isinstance(cam, SeqlessFrames)
    assert cam.frame_delay_ms == (-5.0, 40.0) and cam.frame_arrival_ms == 30.0


def test_a_frame_delay_window_with_max_below_min_is_refused_by_name() -> None:
    with pytest.raises(ValueError, match="cam: frame_delay_max_ms 10 is below frame_delay_min_ms"):
        OpenCvCamera(0, name="cam", frame_delay_min_ms=20, frame_delay_max_ms=10)
