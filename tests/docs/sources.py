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
from linectl.service import api
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
    "control_api_routes",
    "framepush",
    "signals",
]


def control_api_routes() -> set[str]:
    """``METHOD /path`` of every route the control API serves."""
    from tests.service.standin_line import StandInLine

    app = api._build_app(StandInLine(), None)  # type: ignore[arg-type]  # routes only
    return {
        f"{route.method} {route.resource.canonical}"
        for route in app.router.routes()
        if route.resource is not None and route.method != "HEAD"
    }
