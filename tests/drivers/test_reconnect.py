"""The reconnect policy: capped exponential backoff with jitter, reset on success, quiet repeats."""

from __future__ import annotations

import logging
import random

import pytest

from drivers.reconnect import ReconnectPolicy


def policy(**kw: object) -> ReconnectPolicy:
    return ReconnectPolicy("printer-1", rng=random.Random(7), **kw)  # type: ignore[arg-type]


def test_delays_grow_then_stay_at_the_cap_with_jitter() -> None:
    p = policy(initial=0.1, maximum=2.0, jitter=0.2)
    delays = [p.on_failure(OSError("refused")) for _ in range(12)]
    assert 0.08 <= delays[0] <= 0.12
    assert delays[3] > delays[1] > delays[0] * 0.8
    for d in delays[6:]:
        assert 1.6 <= d <= 2.4
    assert len(set(delays[6:])) > 1  # jitter: no reconnect storm in lock step


def test_success_resets_the_cycle() -> None:
    p = policy(initial=0.1, maximum=5.0, jitter=0.0)
    for _ in range(5):
        p.on_failure(OSError("down"))
    p.on_success()
    assert p.on_failure(OSError("down")) == pytest.approx(0.1)


def test_errors_retrying_cannot_fix_wait_the_maximum() -> None:
    p = policy(initial=0.1, maximum=30.0, jitter=0.0)
    assert p.on_failure(PermissionError("bad credentials"), fatal=True) == pytest.approx(30.0)


def test_a_device_off_for_days_never_overflows_or_busy_loops() -> None:
    p = policy(initial=0.05, maximum=10.0)
    delays = [p.on_failure(OSError("off")) for _ in range(5_000)]
    assert min(delays) > 0
    assert max(delays) <= 12.0


def test_first_failure_is_a_warning_repeats_are_debug(caplog: pytest.LogCaptureFixture) -> None:
    p = policy()
    with caplog.at_level(logging.DEBUG, logger="linectl.devices"):
        for _ in range(4):
            p.on_failure(OSError("connection refused"))
    levels = [r.levelno for r in caplog.records]
    assert levels == [logging.WARNING, logging.DEBUG, logging.DEBUG, logging.DEBUG]


@pytest.mark.parametrize(
    "kw", [{"initial": 0.0}, {"initial": 2.0, "maximum": 1.0}, {"factor": 0.5}]
)
def test_nonsense_settings_are_refused(kw: dict[str, float]) -> None:
    with pytest.raises(ValueError, match="printer-1"):
        policy(**kw)
