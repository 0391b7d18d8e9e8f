"""The case camera in the runtime: found by its role, frames paired by seq, checks in a thread."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from drivers.camera.client import PushCamera
from drivers.interfaces import DeviceUnavailable, Frame, LinkState
from linectl.ledger import UnitResult, Verdict
from linectl.lifecycle import record_verdicts
from linectl.line.alarms import Alarms
from linectl.line.case_camera import CaseCamera, CaseChecks
from linectl.line.devices import DeviceSetupError, open_devices
from linectl.line.health import DeviceWatch
from simulators.case_scene import CaseFrameRenderer
from standards.gs1.elements import ProductCode, element_string
from tests.aggregation.conftest import Line, make_batch, make_line
from tests.ledger.conftest import GTIN
from tests.line.configs import line_config, tcp
from tests.line.fakes import FakeCamera, Seams

LABEL = {"role": "case-label"}
CAMERA = {"role": "case-camera"}


def config(extra: dict[str, dict[str, Any]], case_check: str | None) -> Any:
    aggregation: dict[str, Any] = {"case_size": 12}
    if case_check is not None:
        aggregation["case_check"] = case_check
    devices = {
        "plc": tcp("plc", "modbus", 502),
        "zebra": tcp("printer", "zpl", 9100),
        "cam": tcp("camera", "framepush", 7000),
        "labeller": tcp("printer", "zpl", 9101, options=LABEL),
        "scanner": tcp("reader", "dmcc", 2300, options=LABEL),
    }
    return line_config(devices | extra, aggregation=aggregation)


def test_the_case_camera_is_found_by_its_role_and_connected_with_the_others() -> None:
    devices = open_devices(config({"tunnel": tcp("camera", "framepush", 7001, options=CAMERA)},
                                  "camera"))  # fmt: skip
    assert isinstance(devices.case_camera, PushCamera) and devices.camera is not devices.case_camera
    assert devices.names["case_camera"] == "tunnel"
    roles = [role for role, _, _ in devices.by_name()]
    assert roles == ["plc", "printer", "camera", "case_printer", "case_reader", "case_camera"]


def test_case_check_camera_without_a_case_camera_is_refused() -> None:
    with pytest.raises(DeviceSetupError, match=r'case_check = "camera" needs 1 case camera'):
        open_devices(config({}, "camera"))


def test_a_case_camera_without_case_check_camera_is_refused() -> None:
    extra = {"tunnel": tcp("camera", "framepush", 7001, options=CAMERA)}
    with pytest.raises(DeviceSetupError, match=r"needs 0 case camera.*found devices\.tunnel"):
        open_devices(config(extra, None))


def test_a_case_camera_that_is_not_a_camera_is_refused_by_name() -> None:
    extra = {"tunnel": tcp("reader", "dmcc", 2301, options=CAMERA)}
    with pytest.raises(
        DeviceSetupError, match=r"devices\.tunnel: a case-camera device is a camera"
    ):
        open_devices(config(extra, "camera"))


def test_a_camera_without_a_pack_seq_is_refused_as_the_case_camera() -> None:
    opencv = {"kind": "camera", "protocol": "opencv", "url": "cases/%04d.png", "options": CAMERA}
    with pytest.raises(DeviceSetupError, match=r"devices\.tunnel: a case camera's frames must"):
        open_devices(config({"tunnel": opencv}, "camera"))


def test_an_unknown_case_check_mode_is_refused() -> None:
    with pytest.raises(Exception, match="case_check"):
        config({}, "x-ray")


def frame(seq: int, pixels: bytes = b"\x80") -> Frame:
    return Frame(seq, len(pixels), 1, pixels)


async def test_frames_are_paired_by_seq_whatever_order_they_come_in() -> None:
    seams = Seams()
    health = DeviceWatch({"case_camera": "tunnel"}, {}, seams.alarms, seams.events)
    camera = FakeCamera()
    cases = CaseCamera(camera, health, keep=2)
    task = asyncio.create_task(cases.run())
    try:
        for seq in (12, 24, 36):
            camera.queue.put_nowait(frame(seq))
        got = await cases.frame_for(36, timeout_s=30)
        assert got is not None and got.seq == 36
        assert await cases.frame_for(12, timeout_s=0.01) is None  # only the newest 2 are kept
        waiting = asyncio.create_task(cases.frame_for(48, timeout_s=30))
        camera.queue.put_nowait(frame(47))
        camera.queue.put_nowait(frame(48))
        assert (await waiting) is not None and cases.received == 5
        assert await cases.frame_for(48, timeout_s=0.01) is None  # a frame is used once
    finally:
        camera.queue.put_nowait(None)
        await task


class DroppingCamera(FakeCamera):
    """Loses its link once, then delivers."""

    def __init__(self) -> None:
        super().__init__()
        self.dropped = False

    async def frames(self) -> AsyncIterator[Frame]:
        if not self.dropped:
            self.dropped = True
            self.link_state = LinkState.DISCONNECTED
            raise DeviceUnavailable("tunnel: link lost")
        self.link_state = LinkState.CONNECTED
        async for item in super().frames():
            yield item


async def test_a_lost_case_camera_holds_the_line_and_is_back_once_its_link_is_up() -> None:
    raised = asyncio.Event()
    alarms = Alarms(on_change=lambda alarm, up: raised.set() if up else None)
    seams = Seams(alarms=alarms)
    health = DeviceWatch({"case_camera": "tunnel"}, {}, alarms, seams.events)
    camera = DroppingCamera()
    cases = CaseCamera(camera, health)
    watch = asyncio.create_task(cases.watch(every_s=0.01))
    task = asyncio.create_task(cases.run())
    try:
        await raised.wait()
        assert alarms.active("device-lost:tunnel") and not health.connected("case_camera")
        camera.queue.put_nowait(frame(6))
        assert await cases.frame_for(6, timeout_s=30) is not None
        assert health.connected("case_camera")
    finally:
        camera.queue.put_nowait(None)
        await task
        watch.cancel()
        with pytest.raises(asyncio.CancelledError):
            await watch


def pack(line: Line, n: int, first_seq: int) -> list[str]:
    taken = line.ledger.take_for_encoding(line.batch, n)
    units = [UnitResult(s, first_seq + i, Verdict.GOOD, grade="A") for i, s in enumerate(taken)]
    record_verdicts(line.ledger, line.factory, units, clock=line.clock)
    return taken


def case_frame(line: Line, serials: list[str], seq: int, batch: str = "B1") -> Frame:
    order = line.ledger.get_work_order(batch)
    codes = [element_string(ProductCode(GTIN, order.expiry, order.lot, s)) for s in serials]
    image, _ = CaseFrameRenderer(module_px=4, seed=3).render(codes, seq=seq)
    height, width = image.shape
    return Frame(seq, width, height, image.tobytes())


async def test_a_case_is_checked_against_the_frame_of_its_last_pack(tmp_path: Path) -> None:
    line = make_line(tmp_path / "ledger.db", case_size=4)
    seams = Seams()
    health = DeviceWatch({"case_camera": "tunnel"}, {}, seams.alarms, seams.events)
    camera = FakeCamera()
    checks = CaseChecks(CaseCamera(camera, health), seams.alarms, 30.0, lambda _: None)
    task = asyncio.create_task(checks.camera.run())
    try:
        units = pack(line, 8, first_seq=101)
        first, second = line.packer.add_units(units)
        make_batch(line.ledger, "B2", 2)
        (stray,) = pack(Line(line.ledger, line.factory, line.packer, line.rework, line.clock,
                             batch="B2"), 1, first_seq=900)  # fmt: skip
        # the frame of the second case comes first; each is paired by its last pack's seq.
        # In the second case a pack of batch B2 lies in place of its last one.
        camera.queue.put_nowait(case_frame(line, [*units[4:7], stray], 108))
        camera.queue.put_nowait(case_frame(line, units[:4], 104))
        check, view = await checks.check(line.packer, first.sscc)
        assert check.accepted and not seams.alarms.active("case-diverted")
        assert view.diverted == ()
        check, view = await checks.check(line.packer, second.sscc)
        assert not check.accepted
        assert check.reasons == ("other-batch", "missing")
        assert {f.serial for f in check.findings} == {stray, units[7]}
        assert view.diverted == (second.sscc,)
        assert view.rejected == {second.sscc: ("other-batch", "missing")}
        assert seams.alarms.active("case-diverted") and (checks.checked, checks.rejected) == (2, 1)
    finally:
        camera.queue.put_nowait(None)
        await task
        line.ledger.close()
