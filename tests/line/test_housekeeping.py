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
