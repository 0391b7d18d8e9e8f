"""The code the reference pages mirror, imported in this one place.

When a module moves (for example ``linectl.runtime`` to ``linectl.line``), only the import here
changes; the tests name the pages and rows to fix.
"""

from __future__ import annotations

from drivers.camera import framepush
from drivers.interfaces import GateOutcome, Verdict
from drivers.plc import signals
from linectl.config import LineConfig
from linectl.ledger.states import TRANSITIONS as SERIAL_TRANSITIONS
from linectl.ledger.states import SerialState
from linectl.line.reasons import RejectReason
from standards.packml import PackMLCommand, PackMLState

__all__ = [
    "SERIAL_TRANSITIONS",
    "GateOutcome",
    "LineConfig",
    "PackMLCommand",
    "PackMLState",
    "RejectReason",
    "SerialState",
    "Verdict",
    "framepush",
    "signals",
]
