"""Capped exponential backoff with jitter for the upstream links, safe for outages of any length.

Like :class:`drivers.reconnect.ReconnectPolicy`, but the exponent stops growing once the cap is
reached: an upstream link may stay down for days (thousands of failures), and ``factor ** n``
must not overflow. Logging is left to the caller, which knows what failed.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass, field


@dataclass
class Backoff:
    """Delay before the next attempt: ``initial * factor**(n-1)``, capped, +/- ``jitter``."""

    initial: float = 1.0
    maximum: float = 300.0
    factor: float = 2.0
    jitter: float = 0.2
    rng: random.Random = field(default_factory=random.Random)
    failures: int = 0

    def __post_init__(self) -> None:
        if not (0 < self.initial <= self.maximum and self.factor >= 1 and 0 <= self.jitter < 1):
            raise ValueError(
                "backoff needs 0 < initial <= maximum, factor >= 1 and 0 <= jitter < 1"
            )

    def on_failure(self, *, fatal: bool = False) -> float:
        """Count a failed attempt; return the delay (> 0) before the next one.

        ``fatal``: retrying soon cannot help (credentials, configuration), wait the maximum.
        """
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
