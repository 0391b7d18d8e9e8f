"""The housekeeping stage: queue depth for the measured speed, pool level, camera link."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

from linectl.line.housekeeping import Housekeeping
from tests.line.fakes import FakeCamera, Seams


def housekeeping(seams: Seams, **kw: Any) -> Housekeeping:
    feeder = SimpleNamespace(depth=0)
    commands = SimpleNamespace(lock=SimpleNamespace(locked=lambda: False))
    return Housekeeping(
        FakeCamera(), None, feeder, None, seams.mirror, seams.tally,  # type: ignore[arg-type]
        seams.alarms, seams.health, seams.events, seams.supervisor, commands,  # type: ignore[arg-type]
        every_s=0.2, pool_check_s=1.0, queue_depth=6, queue_ahead_s=0.15, queue_depth_max=32,
    )  # fmt: skip


def test_the_queue_is_kept_deep_enough_for_the_measured_speed() -> None:
    seams = Seams()
    stage = housekeeping(seams)
    assert stage.wanted_depth() == 6  # standing still: the minimum
    seams.tally.rate.add(1000)  # 1,000 packs in the last 10 s: 100 packs/s
    assert stage.wanted_depth() == 15  # 0.15 s of line time
    seams.tally.rate.add(10_000)
    assert stage.wanted_depth() == 32  # never more than the maximum


def test_camera_stream_errors_are_counted_and_alarmed_while_they_come_too_often() -> None:
    seams = Seams()
    stage = housekeeping(seams)
    camera = stage.camera
    stage.stream_errors(0.0)
    camera.protocol_errors = 31  # type: ignore[misc]  # 31 frames with bad CRCs in a row
    stage.stream_errors(1.0)
    assert seams.tally.counters["camera_stream_errors"] == 31
    alarm = next(a for a in seams.alarms.as_list() if a["code"] == "camera-stream-errors")
    assert "31 errors" in alarm["message"] and not alarm["holds"]
    stage.stream_errors(5.0)
    assert seams.alarms.active("camera-stream-errors")  # still within the window
    stage.stream_errors(12.0)  # a whole window without a new one
    assert not seams.alarms.active("camera-stream-errors")
    assert seams.tally.counters["camera_stream_errors"] == 31  # the count stays in status


def test_a_few_stream_errors_are_counted_without_an_alarm() -> None:
    seams = Seams()
    stage = housekeeping(seams)
    stage.stream_errors(0.0)
    stage.camera.protocol_errors = 3  # type: ignore[misc]
    stage.stream_errors(1.0)
    assert seams.tally.counters["camera_stream_errors"] == 3
    assert not seams.alarms.active("camera-stream-errors")
