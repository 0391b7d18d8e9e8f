"""Capped exponential backoff with jitter, the one used by device links and upstream links alike.

:class:`Backoff` computes the delays: the exponent stops growing once the cap is reached, so a link
down for days (thousands of failures) never overflows. :class:`ReconnectPolicy` is a device
link's backoff with its logging: the first failure of a cycle at WARNING, repeats at DEBUG, so a
device that is simply off is reported once. The upstream links log for themselves.
"""

from __future__ import annotations

import logging
import math
import random
from dataclasses import dataclass, field

from drivers.interfaces import LinkState

__all__ = ["Backoff", "LinkState", "ReconnectPolicy"]


@dataclass
class Backoff:
    """Delay before the next attempt: ``initial * factor**(n-1)``, capped, +/- ``jitter``.

    ``fatal`` failures (wrong address, refused credentials, bad configuration) cannot be fixed by
    retrying soon, so they go straight to the maximum delay. Success resets the cycle.
    """

    initial: float = 1.0
    maximum: float = 300.0
    factor: float = 2.0
    jitter: float = 0.2  # +/- fraction of the delay
    rng: random.Random = field(default_factory=random.Random)
    failures: int = 0

    def __post_init__(self) -> None:
        if not (0 < self.initial <= self.maximum and self.factor >= 1 and 0 <= self.jitter < 1):
            raise ValueError(
                "backoff needs 0 < initial <= maximum, factor >= 1 and 0 <= jitter < 1"
            )

    def on_failure(self, *, fatal: bool = False) -> float:
        """Count a failed attempt; return the delay (seconds, always > 0) before the next one."""
        self.failures += 1
        if fatal or self.factor == 1:
            base = self.maximum if fatal else self.initial
        else:
            steps_to_cap = math.log(self.maximum / self.initial, self.factor)
            exponent = min(self.failures - 1, math.ceil(steps_to_cap))
            base = min(self.maximum, self.initial * self.factor**exponent)
        spread = base * self.jitter
        return max(self.initial / 2, base + self.rng.uniform(-spread, spread))

    def on_success(self) -> int:
        """Reset; return how many failures there had been (for a "back again" message)."""
        failures, self.failures = self.failures, 0
        return failures


class ReconnectPolicy:
    """A device link's :class:`Backoff`, logging its failures and its recovery under its name."""

    def __init__(
        self,
        name: str,
        initial: float = 0.1,
        maximum: float = 10.0,
        factor: float = 2.0,
        jitter: float = 0.2,
        rng: random.Random | None = None,
        logger: logging.Logger | None = None,
    ) -> None:
        self.name = name
        self.logger = logger or logging.getLogger("linectl.devices")
        try:
            self.backoff = Backoff(initial, maximum, factor, jitter, rng or random.Random())
        except ValueError as exc:
            raise ValueError(f"{name}: reconnect delays: {exc}") from None

    @property
    def failures(self) -> int:
        """Failed attempts since the last success."""
        return self.backoff.failures

    def on_failure(self, error: BaseException, *, fatal: bool = False) -> float:
        """Record a failed attempt and return the delay (seconds, always > 0) before the next."""
        delay = self.backoff.on_failure(fatal=fatal)
        if self.failures == 1:
            self.logger.warning("%s: connection failed: %s", self.name, error)
        else:
            self.logger.debug("%s: still failing (%d): %s", self.name, self.failures, error)
        return delay

    def on_success(self) -> None:
        """Reset the cycle; log the recovery if there had been failures."""
        failures = self.backoff.on_success()
        if failures:
            self.logger.warning("%s: connected again after %d failures", self.name, failures)
