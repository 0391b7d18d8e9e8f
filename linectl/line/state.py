"""Small shared objects of the running line: the mirror of the line's state and its tallies.

:class:`LineMirror` is what the stages read about where the line is: linectl's own phase, the
PackML state the PLC reports (the PLC owns it; linectl mirrors it), its last snapshot, and the
active batch with its verifier. Waiting for a change goes through it (``wait_for``), so no stage
polls. :class:`Tally` holds the counters the status document shows; stages add to it, and
observers hear of it through the event stream (coalesced).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from drivers.interfaces import PlcSnapshot
from linectl.ledger import WorkOrder
from linectl.line.packs import Rate
from standards.packml import PackMLState

if TYPE_CHECKING:
    from linectl.line.verify import CodeContent, Verifier

COUNTER_NAMES = (
    "verdicts_good",
    "verdicts_reject",
    "verdicts_late",
    "verdicts_unsent",
    "frames_dropped",
    "camera_stream_errors",
    "packs_gated",
    "packs_unserialised",
    "commissioned",
    "scrapped",
)


class LineMirror:
    """The line's phase, mirrored PLC state and active batch, with change notification."""

    def __init__(self, on_change: Callable[[], None] | None = None) -> None:
        self.phase = "created"  # created, recovering, running, stopping, stopped
        self.plc_state: PackMLState | None = None
        self.snapshot: PlcSnapshot | None = None
        self.batch: WorkOrder | None = None
        self.content: CodeContent | None = None
        self.verifier: Verifier | None = None
        self._changed = asyncio.Event()
        self._on_change = on_change

    def changed(self) -> None:
        """Something changed: wake everyone waiting in :meth:`wait_for`."""
        self._changed.set()
        self._changed = asyncio.Event()
        if self._on_change is not None:
            self._on_change()

    async def wait_for(self, predicate: Callable[[], bool]) -> None:
        """Wait until ``predicate()`` holds, re-checked after every change."""
        while not predicate():
            await self._changed.wait()

    async def wait_state(self, predicate: Callable[[PackMLState], bool]) -> PackMLState:
        """Wait until the mirrored PLC state satisfies ``predicate`` (bound it with a timeout)."""
        while self.plc_state is None or not predicate(self.plc_state):
            await self._changed.wait()
        return self.plc_state

    def state_name(self) -> str | None:
        return self.plc_state.name if self.plc_state is not None else None


@dataclass
class Tally:
    """Counters of the run, reject reasons of the batch, pool level and outbox backlog."""

    counters: dict[str, int] = field(default_factory=lambda: dict.fromkeys(COUNTER_NAMES, 0))
    reject_reasons: dict[str, int] = field(default_factory=dict)
    rate: Rate = field(default_factory=Rate)
    pool_available: int | None = None
    outbox_pending: int | None = None

    def scrapped(self, reason: str, n: int) -> None:
        """``n`` serials were scrapped with ``reason``."""
        self.counters["scrapped"] += n
        self.reject_reasons[reason] = self.reject_reasons.get(reason, 0) + n
