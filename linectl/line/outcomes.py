"""Where the line's results go: settled packs and scrapped serials, into the ledger and the tallies.

:class:`Outcomes` owns the grouped :class:`~linectl.line.commits.Committer` of the active batch
(made when the first batch is activated, its event factory swapped for the next one). Only once a
group is durable does it count it (:class:`~linectl.line.state.Tally`), publish
:class:`~linectl.line.events.Committed`, hand the units to packing and wake the waiters; a failed
write raises the holding alarm ``ledger``. Serials scrapped without a pack (cancelled jobs, what
was in flight at a stop) go through the same committer, so the ledger sees changes in order.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from linectl.ledger import Ledger, UnitResult
from linectl.lifecycle import EventFactory
from linectl.line.alarms import Alarms
from linectl.line.commits import Committer
from linectl.line.events import Committed, EventStream
from linectl.line.ledger_trouble import LedgerTrouble
from linectl.line.packs import unit_good
from linectl.line.reasons import RejectReason
from linectl.line.state import LineMirror, Tally
from linectl.line.supervisor import Supervisor

PackedHook = Callable[[Sequence[UnitResult]], None]


class Outcomes:
    """Settled packs and scrapped serials of the active batch (see the module docstring)."""

    def __init__(
        self,
        ledger: Ledger,
        tally: Tally,
        events: EventStream,
        alarms: Alarms,
        mirror: LineMirror,
        supervisor: Supervisor,
        *,
        on_durable: PackedHook | None = None,
        on_good: Callable[[int], None] | None = None,
        max_delay: float = 0.05,
        max_units: int = 100,
        actor: str = "line",
        trouble: LedgerTrouble | None = None,
    ) -> None:
        self.ledger = ledger
        self.trouble = trouble or LedgerTrouble(alarms)
        self.tally = tally
        self.events = events
        self.alarms = alarms
        self.mirror = mirror
        self.supervisor = supervisor
        self.on_durable = on_durable
        self.on_good = on_good  # the batch's durable good count, after each commit
        self.unsettled = 0  # packs settled at the gate whose outcome is not durable yet
        self.max_delay = max_delay
        self.max_units = max_units
        self.actor = actor
        self.committer: Committer | None = None

    async def use(self, factory: EventFactory) -> None:
        """Commit from now on with ``factory`` (the active batch's); the first call starts the
        committer task, later ones flush what the previous batch left first."""
        if self.committer is None:
            self.committer = Committer(
                self.ledger, factory, on_committed=self._committed, on_failed=self._failed,
                trouble=self.trouble, max_delay=self.max_delay, max_units=self.max_units,
                actor=self.actor,
            )  # fmt: skip
            self.supervisor.spawn(self.committer.run(), "commit")
        else:
            await self.committer.flush()
            self.committer.factory = factory

    def add(self, unit: UnitResult) -> None:
        """A pack settled at the gate: queue its outcome (nothing is active: nothing to record)."""
        if self.committer is not None:
            self.unsettled += 1
            self.committer.add(unit)

    async def flush(self) -> None:
        """Commit everything queued now and wait until it is durable."""
        if self.committer is not None:
            await self.committer.flush()

    async def scrap(self, serials: Sequence[str], reason: RejectReason) -> None:
        """Scrap written-ahead serials that never became a judged pack."""
        if not serials or self.committer is None:
            return
        n = await self.committer.scrap(serials, reason.value)
        self.tally.scrapped(reason.value, n)
        self.mirror.changed()

    def _committed(self, units: Sequence[UnitResult]) -> None:
        good = 0
        for unit in units:
            if unit_good(unit.verdict):
                good += 1
            else:
                key = unit.reason or "unknown"
                self.tally.reject_reasons[key] = self.tally.reject_reasons.get(key, 0) + 1
        self.tally.counters["commissioned"] += good
        self.tally.counters["scrapped"] += len(units) - good
        self.unsettled = max(0, self.unsettled - len(units))
        self.events.publish(Committed(good, len(units) - good))
        if self.on_durable is not None:
            self.on_durable(units)
        if self.on_good is not None and good:
            self.on_good(self.tally.counters["commissioned"])
        self.mirror.changed()

    def _failed(self, what: str) -> None:
        self.alarms.raise_("ledger", f"ledger write failed: {what}", holds=True)
