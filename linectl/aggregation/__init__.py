"""Aggregation: units into cases, cases onto pallets, SSCC labels, camera case checks, rework.

The line runtime uses :class:`PackingService` (open, fill and close cases in line order, label
verification, pallets); operators use :class:`Rework` (through ``linectl`` subcommands);
:func:`check_case_frame` is the camera-tunnel check of a case's top layer.

Names load on first use: the CLI needs neither zxing-cpp nor NumPy. The settings
(``AggregationSection``, ``OrphanPolicy``, ``PackingSettings``) live in :mod:`linectl.config`.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from linectl.aggregation.case_check import (
        CaseCheck,
        CaseProblem,
        Finding,
        check_case_frame,
        no_frame,
    )
    from linectl.aggregation.events import ContainerEvents
    from linectl.aggregation.labels import ContainerLabel, LabelCheck
    from linectl.aggregation.packing import (
        ClosedContainer,
        LabelOutcome,
        PackingService,
        PackingStatus,
    )
    from linectl.aggregation.rework import OrphanReport, Rework, ReworkResult
    from linectl.aggregation.sscc_source import (
        RangeSsccSource,
        SsccSource,
        SsccStock,
        SsccUnavailable,
        sscc_source_for,
    )

_HOME = {
    **dict.fromkeys(
        ("CaseCheck", "CaseProblem", "Finding", "check_case_frame", "no_frame"), "case_check"
    ),
    "ContainerEvents": "events",
    **dict.fromkeys(("ContainerLabel", "LabelCheck"), "labels"),
    **dict.fromkeys(
        ("ClosedContainer", "LabelOutcome", "PackingService", "PackingStatus"), "packing"
    ),
    **dict.fromkeys(("OrphanReport", "Rework", "ReworkResult"), "rework"),
    **dict.fromkeys(
        ("RangeSsccSource", "SsccSource", "SsccStock", "SsccUnavailable", "sscc_source_for"),
        "sscc_source",
    ),
}

__all__ = [
    "CaseCheck",
    "CaseProblem",
    "ClosedContainer",
    "ContainerEvents",
    "ContainerLabel",
    "Finding",
    "LabelCheck",
    "LabelOutcome",
    "OrphanReport",
    "PackingService",
    "PackingStatus",
    "RangeSsccSource",
    "Rework",
    "ReworkResult",
    "SsccSource",
    "SsccStock",
    "SsccUnavailable",
    "check_case_frame",
    "no_frame",
    "sscc_source_for",
]


def __getattr__(name: str) -> Any:
    module = _HOME.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"linectl.aggregation.{module}"), name)
