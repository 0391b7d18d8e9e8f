"""The code the reference pages mirror, imported in this one place.

When a module moves (for example ``linectl.runtime`` to ``linectl.line``), only the import here
changes; the tests name the pages and rows to fix.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from drivers.camera import framepush
from drivers.interfaces import GateOutcome, Verdict
from drivers.plc import signals
from linectl.config import IdentitySection, LineConfig
from linectl.identity import Identity
from linectl.ledger import Ledger
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

    with tempfile.TemporaryDirectory() as tmp, Ledger(Path(tmp) / "routes.db") as ledger:
        app = api._build_app(StandInLine(), Identity(ledger, IdentitySection()), None)
        return {
            f"{route.method} {route.resource.canonical}"
            for route in app.router.routes()
            if route.resource is not None and route.method != "HEAD"
        }
