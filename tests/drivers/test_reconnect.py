"""One backoff (capped exponential, jitter, reset on success) and the devices' reconnect policy."""

from __future__ import annotations

import logging
import random

import pytest

from drivers.reconnect import Backoff, ReconnectPolicy


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


def test_a_link_down_for_days_stays_at_the_cap_without_overflow() -> None:
    backoff = Backoff(initial=0.5, maximum=300.0, factor=10.0, jitter=0.0)
    delays = [backoff.on_failure() for _ in range(100_000)]  # 10.0 ** 99_999 would overflow
    assert delays[:4] == [0.5, 5.0, 50.0, 300.0]
    assert set(delays[3:]) == {300.0}


def test_success_reports_how_many_failures_there_were_and_starts_over() -> None:
    backoff = Backoff(initial=1.0, maximum=8.0, jitter=0.0)
    assert [backoff.on_failure() for _ in range(3)] == [1.0, 2.0, 4.0]
    assert backoff.on_failure(fatal=True) == 8.0
    assert backoff.on_success() == 4
    assert backoff.on_success() == 0
    assert backoff.on_failure() == 1.0


def test_the_device_policy_is_the_same_backoff_with_its_logging() -> None:
    p = policy(initial=0.1, maximum=0.8, jitter=0.0)
    plain = Backoff(initial=0.1, maximum=0.8, jitter=0.0)
    for _ in range(6):
        assert p.on_failure(OSError("off")) == plain.on_failure()
    assert p.failures == plain.failures == 6


@pytest.mark.parametrize("kw", [{"jitter": 1.0}, {"jitter": -0.1}, {"factor": 0.9}])
def test_nonsense_backoff_settings_are_refused(kw: dict[str, float]) -> None:
    with pytest.raises(ValueError, match="backoff needs"):
        Backoff(**kw)
