"""Faults the central simulator can inject, from its configuration, its CLI, the admin endpoint or
a test's Python calls; every random draw comes from one seeded generator, so a run is reproducible.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field, fields
from typing import Any


class FaultError(ValueError):
    """A fault setting that cannot be applied; names the setting."""


@dataclass
class Faults:
    """What goes wrong upstream. Rates are probabilities per request (0..1)."""

    #: the EPCIS capture endpoint stops listening (connections are refused)
    epcis_down: bool = False
    #: the OPC UA pool manager stops listening
    pool_down: bool = False
    #: seconds added before every EPCIS answer (a slow repository)
    delay_s: float = 0.0
    #: probability that an EPCIS request is answered 500 without doing anything
    error_rate: float = 0.0
    #: probability that a capture job fails part-way
    job_failure_rate: float = 0.0
    #: events a failing job stores before it fails (clipped to the document's size minus one)
    job_failure_keep: int = 0
    #: the next this-many capture jobs fail part-way (deterministic, counts down)
    fail_next_jobs: int = 0
    #: every pool-manager method answers InsufficientPrivilegeToExecute
    deny_provisioning: bool = False
    seed: int = 0
    rng: random.Random = field(default_factory=random.Random, repr=False, compare=False)

    def __post_init__(self) -> None:
        self.rng.seed(self.seed)
        self.check()

    def check(self) -> None:
        """Refuse values that make no sense, naming the setting."""
        for name in ("error_rate", "job_failure_rate"):
            value = getattr(self, name)
            if not 0.0 <= value <= 1.0:
                raise FaultError(f"{name}: {value!r} is not a probability between 0 and 1")
        for name in ("delay_s", "job_failure_keep", "fail_next_jobs"):
            if getattr(self, name) < 0:
                raise FaultError(f"{name}: {getattr(self, name)!r} must not be negative")

    def update(self, changes: dict[str, Any]) -> list[str]:
        """Apply ``changes`` (all or none); return the names of the settings that changed."""
        known = {f.name: f for f in fields(self) if f.name != "rng"}
        before = {name: getattr(self, name) for name in known}
        for name, value in changes.items():
            if name not in known:
                raise FaultError(f"{name}: unknown fault (known: {', '.join(sorted(known))})")
            kind = type(before[name])
            if kind is bool and not isinstance(value, bool):
                raise FaultError(f"{name}: expected true or false, got {value!r}")
            if kind in (int, float) and (
                isinstance(value, bool) or not isinstance(value, int | float)
            ):
                raise FaultError(f"{name}: expected a number, got {value!r}")
            if kind is int and isinstance(value, float) and not value.is_integer():
                raise FaultError(f"{name}: expected a whole number, got {value!r}")
        try:
            for name, value in changes.items():
                setattr(self, name, type(before[name])(value))
            self.check()
        except FaultError:
            for name, value in before.items():
                setattr(self, name, value)
            raise
        if "seed" in changes:
            self.rng.seed(self.seed)
        return [name for name in changes if before[name] != getattr(self, name)]

    def as_dict(self) -> dict[str, Any]:
        return {f.name: getattr(self, f.name) for f in fields(self) if f.name != "rng"}

    def draw_error(self) -> bool:
        """Whether this EPCIS request fails with a 500."""
        return self.error_rate > 0 and self.rng.random() < self.error_rate

    def draw_job_failure(self) -> bool:
        """Whether this capture job fails part-way (consumes one of ``fail_next_jobs``)."""
        if self.fail_next_jobs > 0:
            self.fail_next_jobs -= 1
            return True
        return self.job_failure_rate > 0 and self.rng.random() < self.job_failure_rate
