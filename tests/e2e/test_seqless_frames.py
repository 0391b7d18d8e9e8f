"""A camera that knows nothing of packs: its frames are paired with packs by the PLC's triggers.

The simulated camera's frames (over LCFP, real sockets) reach the daemon as a seq-less camera
sends them: numbered by the camera's own count, stamped at exposure. The daemon pairs them with
the seqs the PLC reports at the camera (linectl.line.frame_pairing). One frame lost rejects
exactly its pack; one extra shot between two packs shifts nothing.
"""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from drivers.interfaces import Camera, Frame, LinkState
from linectl.line.control import Command
from linectl.line.devices import LineDevices
from standards.packml import PackMLState
from tests.e2e.rig import line_rig

pytestmark = pytest.mark.e2e

PACKS = 90  # 50 after the lost frame, 30 after the extra one: they stay paired
SPEED = 600  # packs/min: a pitch of 100 ms


class SeqlessFeed:
    """The simulator's frame stream as a seq-less camera (an OpenCV source) would give it.

    ``drop``: packs whose frame is lost. ``extra_after``: packs after whose frame the camera
    takes one more shot (of the same pack) half a pitch later. Offers: Camera, SeqlessFrames.
    """

    def __init__(self, camera: Camera, drop: set[int], extra_after: set[int]) -> None:
        self.camera = camera
        self.drop = drop
        self.extra_after = extra_after
        self.frame_delay_ms = (-5.0, 20.0)  # the simulator stamps a frame at the trigger's tick
        self.frame_arrival_ms = 150.0  # and renders it before sending: slow on a busy box
        self.count = 0  # the camera's own frame counter

    @property
    def link_state(self) -> LinkState:
        return self.camera.link_state

    @property
    def protocol_errors(self) -> int:
        return self.camera.protocol_errors

    async def connect(self) -> None:
        await self.camera.connect()

    async def close(self) -> None:
        await self.camera.close()

    async def frames(self) -> AsyncIterator[Frame]:
        half_pitch_ns = int(30e9 / SPEED)
        async for frame in self.camera.frames():
            pack = frame.seq  # the simulator's tag: ground truth, never shown to the daemon
            if pack in self.drop:
                continue
            self.count += 1
            yield dataclasses.replace(frame, seq=self.count)
            if pack in self.extra_after:
                self.count += 1
                stamp = frame.timestamp_ns + half_pitch_ns
                yield dataclasses.replace(frame, seq=self.count, timestamp_ns=stamp)


def seqless(drop: set[int], extra_after: set[int]) -> object:
    def wrap(devices: LineDevices) -> LineDevices:
        assert devices.camera is not None
        feed = SeqlessFeed(devices.camera, drop, extra_after)
        return dataclasses.replace(devices, camera=feed)

    return wrap


async def run(tmp_path: Path, drop: set[int], extra_after: set[int]) -> dict[int, tuple]:
    async with line_rig(
        tmp_path, packs=PACKS, pool=PACKS + 40, packs_per_minute=SPEED,
        wrap=seqless(drop, extra_after),  # type: ignore[arg-type]
        thresholds={"verdict_deadline_ms": 280.0},  # the gate is 300 ms after the camera
    ) as rig:  # fmt: skip
        assert rig.rt.frame_pairing is not None
        await rig.rt.command(Command.START, user="alice", reason="shift 1")
        await rig.wait_state(PackMLState.COMPLETE)
        await rig.rt.line_end_done()
        units = rig.units()
        for seq, pack in rig.line.history.items():
            assert pack.rejected == (units[seq][1] != "good"), seq
        pairing = rig.rt.frame_pairing.pairing
        assert pairing.extra == len(extra_after) and pairing.ambiguous == 0
        closed = await rig.rt.command(Command.CLOSE_BATCH, user="alice", reason="done")
        assert closed["result"]["reconciliation"]["balanced"]
        return units


def assert_rejected(units: dict[int, tuple], expected: dict[int, str]) -> None:
    """Exactly ``expected`` rejected with those reasons; any other reject is a late verdict (a
    loaded 2-core box may make one: fail-safe), at most 3 and never a pairing reason."""
    got = {seq: str(u[2]) for seq, u in units.items() if u[1] != "good"}
    assert {seq: got.get(seq) for seq in expected} == expected, got
    others = {seq: why for seq, why in got.items() if seq not in expected}
    assert set(others.values()) <= {"late"} and len(others) <= 3, others


async def test_a_lost_frame_rejects_exactly_its_pack(tmp_path: Path) -> None:
    units = await run(tmp_path, drop={40}, extra_after=set())
    assert_rejected(units, {40: "no-read"})
    assert len(units) == PACKS


async def test_an_extra_frame_does_not_shift_the_pairing(tmp_path: Path) -> None:
    units = await run(tmp_path, drop=set(), extra_after={60})
    assert_rejected(units, {})
    assert len(units) == PACKS
