"""Reconnect policy: capped exponential backoff with jitter, reset on success, quiet repeats.

The connection object asks the policy how long to wait after each failure; the policy logs the first
failure of a cycle at WARNING and repeats at DEBUG, so a device that is simply off is reported once.
"""

from __future__ import annotations

import logging
import random
from dataclasses import dataclass, field

from drivers.interfaces import LinkState

__all__ = ["LinkState", "ReconnectPolicy"]


@dataclass
class ReconnectPolicy:
    """Decides the delay before the next connection attempt.

    ``fatal`` errors (wrong address, refused credentials, bad configuration) cannot be fixed by
    retrying soon, so they go straight to the maximum delay.
    """

    name: str
    initial: float = 0.1
    maximum: float = 10.0
    factor: float = 2.0
    jitter: float = 0.2  # +/- fraction of the delay
    rng: random.Random = field(default_factory=random.Random)
    logger: logging.Logger = field(default_factory=lambda: logging.getLogger("linectl.devices"))
    failures: int = 0

    def __post_init__(self) -> None:
        if self.initial <= 0 or self.maximum < self.initial or self.factor < 1:
            raise ValueError(
                f"{self.name}: reconnect delays must satisfy 0 < initial <= maximum, factor >= 1"
            )

    def on_failure(self, error: BaseException, *, fatal: bool = False) -> float:
        """Record a failed attempt and return the delay (seconds, always > 0) before the next."""
        self.failures += 1
        if self.failures == 1:
            self.logger.warning("%s: connection failed: %s", self.name, error)
        else:
            self.logger.debug("%s: still failing (%d): %s", self.name, self.failures, error)
        exponent = min(self.failures - 1, 64)  # past the cap anyway; avoids float overflow
        base = self.maximum if fatal else self.initial * self.factor**exponent
        delay = min(base, self.maximum)
        spread = delay * self.jitter
        return max(self.initial / 2, delay + self.rng.uniform(-spread, spread))

    def on_success(self) -> None:
        """Reset the cycle; log the recovery if there had been failures."""
        if self.failures:
            self.logger.warning("%s: connected again after %d failures", self.name, self.failures)
        self.failures = 0
