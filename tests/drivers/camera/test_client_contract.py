"""PushCamera against the camera simulator over real sockets, with wire faults from FaultProxy."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass

import numpy as np
import pytest

from drivers.camera.client import PushCamera
from drivers.camera.decode import decode_frame
from drivers.camera.framepush import (
    NEED_DATA,
    Bye,
    FramePushConnection,
    Hello,
    HelloAck,
    Role,
)
from drivers.interfaces import Camera, DeviceUnavailable, Frame
from drivers.reconnect import LinkState, ReconnectPolicy
from simulators.camera import CameraSimulator, SelfPrinter
from simulators.camera_scene import FrameRenderer
from simulators.line import FaultPlan, LineLayout, VirtualLine
from tests.contract.fault_proxy import FaultProxy
from tests.drivers.scripted_device import Script, scripted_device

LEAD = LineLayout().camera  # ticks before the first pack reaches the camera


@dataclass
class Rig:
    line: VirtualLine
    printer: SelfPrinter
    sim: CameraSimulator

    async def packs(self, n: int) -> None:
        """Move the line until ``n`` more packs have passed the camera."""
        for _ in range(n):
            await self.line.tick()


def quick_policy() -> ReconnectPolicy:
    return ReconnectPolicy("camera", initial=0.01, maximum=0.05)


async def make_rig(
    width: int = 640, height: int = 480, module_px: int = 5, keepalive_ms: int = 1000
) -> Rig:
    line = VirtualLine(LineLayout(), FaultPlan(seed=3))
    printer = SelfPrinter(line)
    renderer = FrameRenderer(width, height, module_px=module_px, seed=11)
    sim = CameraSimulator(line, renderer=renderer, keepalive_ms=keepalive_ms)
    await sim.start()
    for _ in range(LEAD):
        await line.tick()
    return Rig(line, printer, sim)


@pytest.fixture
async def rig() -> AsyncIterator[Rig]:
    rig = await make_rig()
    yield rig
    await rig.sim.close()


@pytest.fixture
async def small_rig() -> AsyncIterator[Rig]:
    """Small frames, so byte-at-a-time delivery stays quick; keep-alives flush joined reads."""
    rig = await make_rig(160, 120, module_px=2, keepalive_ms=200)
    yield rig
    await rig.sim.close()


async def take(cam: PushCamera, n: int) -> list[Frame]:
    got: list[Frame] = []
    async with asyncio.timeout(20), contextlib.aclosing(cam.frames()) as frames:  # type: ignore[type-var]
        async for frame in frames:
            got.append(frame)
            if len(got) == n:
                break
    return got


def expected_pixels(rig: Rig, seq: int) -> bytes:
    pack = rig.line.history[seq]
    image, _ = rig.sim.renderer.render(seq, pack.printed, pack.defect)
    return image.tobytes()


async def test_push_camera_is_a_camera() -> None:
    assert isinstance(PushCamera("127.0.0.1", 1), Camera)


async def test_frames_arrive_with_the_packs_seq_and_show_what_was_printed(rig: Rig) -> None:
    cam = PushCamera("127.0.0.1", rig.sim.port, policy=quick_policy())
    await cam.connect()
    assert cam.hello is not None and (cam.hello.width, cam.hello.height) == (640, 480)
    await rig.packs(4)
    frames = await take(cam, 4)
    assert [f.seq for f in frames] == [1, 2, 3, 4]
    for frame in frames:
        assert (frame.width, frame.height) == (640, 480) and frame.timestamp_ns > 0
        assert rig.sim.truth[frame.seq].printed == rig.printer.data_for(frame.seq)
        assert decode_frame(frame).text == rig.printer.data_for(frame.seq)
    assert cam.frames_received == 4 and cam.seq_gaps == 0
    await cam.close()


async def test_frames_delivered_a_byte_at_a_time_are_intact(small_rig: Rig) -> None:
    async with FaultProxy("127.0.0.1", small_rig.sim.port) as proxy:
        cam = PushCamera("127.0.0.1", proxy.port, policy=quick_policy())
        await cam.connect()
        proxy.plan.single_bytes = True
        await small_rig.packs(2)
        frames = await take(cam, 2)
        assert [f.seq for f in frames] == [1, 2]
        assert all(f.pixels == expected_pixels(small_rig, f.seq) for f in frames)
        await cam.close()


async def test_frames_joined_in_one_read_all_arrive(small_rig: Rig) -> None:
    async with FaultProxy("127.0.0.1", small_rig.sim.port) as proxy:
        cam = PushCamera("127.0.0.1", proxy.port, policy=quick_policy())
        await cam.connect()
        proxy.plan.join_replies = 3
        await small_rig.packs(6)
        frames = await take(cam, 6)
        assert [f.seq for f in frames] == [1, 2, 3, 4, 5, 6]
        assert all(f.pixels == expected_pixels(small_rig, f.seq) for f in frames)
        await cam.close()


async def test_garbage_on_the_wire_is_skipped_and_counted(small_rig: Rig) -> None:
    async with FaultProxy("127.0.0.1", small_rig.sim.port) as proxy:
        cam = PushCamera("127.0.0.1", proxy.port, policy=quick_policy())
        await cam.connect()
        proxy.plan.garbage = b"\x00\xffnoise LCF LCFP" + bytes(40)
        await small_rig.packs(3)
        frames = await take(cam, 3)
        assert [f.seq for f in frames] == [1, 2, 3]
        assert cam.protocol_errors >= 1
        await cam.close()


async def test_a_link_cut_mid_frame_raises_and_the_next_frames_call_reconnects(
    small_rig: Rig,
) -> None:
    async with FaultProxy("127.0.0.1", small_rig.sim.port) as proxy:
        cam = PushCamera("127.0.0.1", proxy.port, policy=quick_policy())
        await cam.connect()
        proxy.plan.drop_after = 100
        await small_rig.packs(1)
        with pytest.raises(DeviceUnavailable, match="closed the connection"):
            await take(cam, 1)
        assert cam.state is LinkState.DISCONNECTED
        await cam.connect()
        await small_rig.packs(2)
        frames = await take(cam, 2)
        assert [f.seq for f in frames] == [2, 3] and proxy.connections == 2
        await cam.close()


async def test_the_camera_reconnects_after_the_simulator_restarts(rig: Rig) -> None:
    cam = PushCamera("127.0.0.1", rig.sim.port, policy=quick_policy())
    await cam.connect()
    await rig.packs(1)
    assert [f.seq for f in await take(cam, 1)] == [1]
    port = rig.sim.port
    await rig.sim.close()
    with pytest.raises(DeviceUnavailable, match="camera said bye: camera simulator shutting down"):
        await take(cam, 1)
    rig.sim = CameraSimulator(rig.line, port=port, renderer=rig.sim.renderer)
    await rig.sim.start()
    await cam.connect()
    await rig.packs(2)
    assert [f.seq for f in await take(cam, 2)] == [2, 3]
    await cam.close()


async def test_close_twice_ends_iteration_and_refuses_to_reconnect(rig: Rig) -> None:
    cam = PushCamera("127.0.0.1", rig.sim.port, policy=quick_policy())
    await cam.connect()
    await rig.packs(1)
    frames = cam.frames()
    async with asyncio.timeout(10):
        assert (await anext(frames)).seq == 1
    waiting = asyncio.create_task(anext(frames, None))  # type: ignore[arg-type]
    await cam.close()
    await cam.close()
    async with asyncio.timeout(5):
        assert await waiting is None
    assert cam.state is LinkState.CLOSED
    assert await take(cam, 1) == []
    with pytest.raises(DeviceUnavailable, match="closed"):
        await cam.connect()


async def test_nothing_listening_is_device_unavailable_once_per_attempt() -> None:
    server = await asyncio.start_server(lambda r, w: None, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    server.close()
    await server.wait_closed()
    cam = PushCamera("127.0.0.1", port, policy=quick_policy())
    with pytest.raises(DeviceUnavailable, match=f"127.0.0.1:{port}"):
        await cam.connect()
    with pytest.raises(DeviceUnavailable):
        await take(cam, 1)
    assert cam.policy.failures == 2
    await cam.close()


def fake_camera(reply: bytes | None) -> Script:
    """A camera that answers HELLO with ``reply`` (then stays silent) or with a BYE."""

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        codec = FramePushConnection(Role.CAMERA)
        while (event := codec.next_event()) is NEED_DATA:
            codec.receive_data(await reader.read(1024))
        assert isinstance(event, Hello)
        writer.write(reply if reply is not None else codec.send(Bye("licence expired")))
        await writer.drain()
        await reader.read()  # silent until the host hangs up

    return handle


async def test_a_camera_that_goes_silent_past_its_keepalive_is_lost() -> None:
    codec = FramePushConnection(Role.CAMERA)
    codec.hello_received = True
    async with scripted_device(fake_camera(codec.send(HelloAck(64, 48, keepalive_ms=100)))) as port:
        cam = PushCamera("127.0.0.1", port, policy=quick_policy())
        await cam.connect()
        loop = asyncio.get_running_loop()
        start = loop.time()
        with pytest.raises(DeviceUnavailable, match="keep-alive missed"):
            await take(cam, 1)
        assert loop.time() - start >= 0.45
        await cam.close()


async def test_a_camera_that_says_bye_to_hello_refuses_the_connection() -> None:
    async with scripted_device(fake_camera(None)) as port:
        cam = PushCamera("127.0.0.1", port, policy=quick_policy())
        with pytest.raises(DeviceUnavailable, match="refused the connection: licence expired"):
            await cam.connect()
        await cam.close()


async def test_pixels_survive_the_wire_exactly(rig: Rig) -> None:
    cam = PushCamera("127.0.0.1", rig.sim.port, policy=quick_policy())
    await cam.connect()
    await rig.packs(2)
    for frame in await take(cam, 2):
        sent = np.frombuffer(expected_pixels(rig, frame.seq), dtype=np.uint8)
        assert np.array_equal(np.frombuffer(frame.pixels, dtype=np.uint8), sent)
    await cam.close()


async def test_a_host_that_stops_reading_loses_frames_not_the_link() -> None:
    line = VirtualLine(LineLayout(), FaultPlan(seed=4))
    SelfPrinter(line)
    sim = CameraSimulator(line, renderer=FrameRenderer(seed=4), max_backlog=1024 * 1024)
    await sim.start()
    cam = PushCamera("127.0.0.1", sim.port, policy=quick_policy())
    await cam.connect()
    packs = 60  # 18 MB of frames: more than the socket buffers and the backlog limit hold
    for _ in range(LEAD + packs):
        await line.tick()
    async with asyncio.timeout(20):
        await sim.wait_frame(packs)  # all pushed or dropped while the host was not reading
    delivered = sim.stats.frames_sent
    assert sim.stats.frames_dropped == packs - delivered > 0
    seqs: list[int] = []
    async with asyncio.timeout(20), contextlib.aclosing(cam.frames()) as frames:  # type: ignore[type-var]
        async for frame in frames:
            seqs.append(frame.seq)
            if len(seqs) == delivered:
                break
    assert seqs == sorted(seqs) and seqs[0] == 1 and len(set(seqs)) == delivered
    assert cam.seq_gaps == seqs[-1] - delivered  # the client sees the drops as seq gaps
    await line.tick()  # and the link still carries the next pack's frame
    assert [f.seq for f in await take(cam, 1)] == [packs + 1]
    await cam.close()
    await sim.close()
