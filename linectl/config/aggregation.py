"""How a line aggregates: case and pallet sizes, label verification attempts, orphan policy.

``AggregationSection`` is the ``[aggregation]`` table of the line configuration::

    [aggregation]
    case_size = 24            # units per case; the case closes when it is full
    pallet_size = 40          # cases per pallet; 0 = the line builds no pallets
    label_attempts = 2        # label prints per container before it is diverted
    orphan_policy = "hold"    # or "decommission": good units never packed at batch end
    sscc_stock = "ssccs.txt"  # SSCCs from the pool manager (upstream.sscc.source = central)
    case_check = "camera"     # or "none": check each case against its case-camera frame
    case_frame_timeout_s = 5  # after its label is on, a case's frame must come within this
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated

from pydantic import Field

from linectl.config.section import Section


class OrphanPolicy(enum.StrEnum):
    """What happens at batch end to verified-good units that never went into a case."""

    DECOMMISSION = "decommission"  # taken out of the supply chain: Inactive, decommissioning
    HOLD = "hold"  # kept Commissioned and listed, for an operator to pack by rework


@dataclass(frozen=True)
class PackingSettings:
    """The packing service's rules (see the module docstring for each field)."""

    case_size: int = 24
    pallet_size: int = 40
    label_attempts: int = 2
    orphan_policy: OrphanPolicy = OrphanPolicy.HOLD
    actor: str = "line"

    def __post_init__(self) -> None:
        for name, low in (("case_size", 1), ("pallet_size", 0), ("label_attempts", 1)):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < low:
                raise ValueError(
                    f"packing settings: {name} must be an integer >= {low}, got {value!r}"
                )
        OrphanPolicy(self.orphan_policy)

    @property
    def palletising(self) -> bool:
        """True when accepted cases go onto pallets."""
        return self.pallet_size > 0


class CaseCheckMode(enum.StrEnum):
    """How a closed case is checked before its label is read."""

    NONE = "none"  # line order only
    CAMERA = "camera"  # the case camera's frame (a device with options.role = "case-camera")


class AggregationSection(Section):
    """``[aggregation]`` of the line configuration."""

    case_size: Annotated[int, Field(ge=1, le=10_000)] = 24
    pallet_size: Annotated[int, Field(ge=0, le=10_000)] = 40
    label_attempts: Annotated[int, Field(ge=1, le=10)] = 2
    orphan_policy: OrphanPolicy = OrphanPolicy.HOLD
    sscc_stock: Path | None = None
    case_check: CaseCheckMode = CaseCheckMode.NONE
    case_frame_timeout_s: Annotated[float, Field(gt=0, le=600)] = 5.0

    def settings(self, actor: str = "line") -> PackingSettings:
        return PackingSettings(
            case_size=self.case_size,
            pallet_size=self.pallet_size,
            label_attempts=self.label_attempts,
            orphan_policy=self.orphan_policy,
            actor=actor,
        )
