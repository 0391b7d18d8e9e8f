"""Rework of cases and pallets: each command one transaction with its EPCIS events and audit rows.

Every command takes the operator (``actor``) and a ``reason``, both required; each ledger step
writes its audit row under the ledger's command names with them, and the events follow the
rules in :mod:`linectl.aggregation.steps` (unpacking before re-packing; a closed container is
reopened and closed again around the change). Commands that change what a closed container
holds return it in ``relabel``: its label (count) must be printed again.

Reopening a container records no EPCIS event by itself: EPCIS has no event for opening a box,
only for what is taken out (unpacking) or put in (packing, when it closes again).

Orphans (commissioned units of a batch in no case) follow the batch's policy: ``decommission``
(Inactive, with the decommissioning event) or ``hold`` (kept Commissioned for rework; the
decision is an audit row ``aggregation.orphans``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime

from linectl.aggregation.events import ContainerEvents
from linectl.aggregation.steps import (
    child_cases,
    close_container,
    opened,
    put_in,
    put_on,
    take_off,
    take_out,
)
from linectl.config import LineSection, OrphanPolicy
from linectl.ledger import (
    ContainerError,
    ContainerLevel,
    ContainerState,
    Ledger,
    ValidationError,
)
from linectl.ledger.aggregation import AggregationTx
from linectl.ledger.audit import summarise
from linectl.ledger.serials import SerialRow
from linectl.ledger.validation import check_text
from linectl.lifecycle import DECOMMISSION, DESTROY, SAMPLE, EventFactory, Step


def _now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class ReworkResult:
    """What a rework command queued, in order, and the containers whose label must be redone."""

    events: tuple[tuple[str, str], ...]  # (kind, event_id)
    relabel: tuple[str, ...] = ()

    @property
    def kinds(self) -> tuple[str, ...]:
        return tuple(kind for kind, _ in self.events)


@dataclass(frozen=True)
class OrphanReport:
    """The orphans of a batch and what was done with them."""

    batch: str
    policy: OrphanPolicy
    serials: tuple[str, ...]
    events: tuple[tuple[str, str], ...] = ()


@dataclass
class _Run:
    """One rework transaction: its steps' handle, containers changed, and then its result."""

    tx: AggregationTx
    touched: list[str] = field(default_factory=list)
    result: ReworkResult = field(default_factory=lambda: ReworkResult(()))


class Rework:
    """Operator commands on units, cases and pallets of any batch in the ledger."""

    def __init__(
        self, ledger: Ledger, line: LineSection, *, clock: Callable[[], datetime] = _now
    ) -> None:
        self.ledger = ledger
        self.line = line
        self.clock = clock

    # -- units in cases --------------------------------------------------------------------------

    def remove_unit(
        self, case: str, serial: str, *, actor: str, reason: str, gtin: str | None = None
    ) -> ReworkResult:
        """Take a unit out of its case (unpacking); it stays Commissioned, in no case."""
        with self._tx(reason) as run:
            tx = run.tx
            (row,) = self._in(tx, case, [serial], gtin)
            ev = self._case_events(tx, case)
            with opened(tx, ev, case, actor=actor, reason=reason, at=self.clock()):
                take_out(tx, ev, case, [row], actor=actor, reason=reason, at=self.clock())
            run.touched.append(case)
        return run.result

    def add_unit(
        self, case: str, serial: str, *, actor: str, reason: str, gtin: str | None = None
    ) -> ReworkResult:
        """Put a commissioned unit of the case's batch into it (packing when it is closed)."""
        with self._tx(reason) as run:
            tx = run.tx
            rows = tx.resolve([serial], gtin)
            ev = self._case_events(tx, case)
            with opened(tx, ev, case, actor=actor, reason=reason, at=self.clock()):
                put_in(tx, ev, case, rows, actor=actor, reason=reason)
            run.touched.append(case)
        return run.result

    def replace_unit(
        self,
        case: str,
        old: str,
        new: str,
        *,
        actor: str,
        reason: str,
        gtin: str | None = None,
    ) -> ReworkResult:
        """Swap a unit of a case for a replacement: unpacking of the old, then packing the new."""
        with self._tx(reason) as run:
            tx = run.tx
            (out,) = self._in(tx, case, [old], gtin)
            rows = tx.resolve([new], gtin)
            ev = self._case_events(tx, case)
            with opened(tx, ev, case, actor=actor, reason=reason, at=self.clock()):
                take_out(tx, ev, case, [out], actor=actor, reason=reason, at=self.clock())
                put_in(tx, ev, case, rows, actor=actor, reason=reason)
            run.touched.append(case)
        return run.result

    def decommission(
        self, serials: Sequence[str], *, actor: str, reason: str, gtin: str | None = None
    ) -> ReworkResult:
        """Decommission damaged units (Inactive); a packed unit is unpacked from its case first."""
        return self._end_of_use(DECOMMISSION, serials, actor, reason, gtin)

    def sample(
        self, serials: Sequence[str], *, actor: str, reason: str, gtin: str | None = None
    ) -> ReworkResult:
        """Take QA samples (Sampled: sampling, then end of life); unpacked first when packed."""
        return self._end_of_use(SAMPLE, serials, actor, reason, gtin)

    def destroy(
        self, serials: Sequence[str], *, actor: str, reason: str, gtin: str | None = None
    ) -> ReworkResult:
        """Destroy units (Destroyed: destroying/destroyed); commissioned ones are unpacked first,
        decommissioned (Inactive) ones may be destroyed later."""
        return self._end_of_use(DESTROY, serials, actor, reason, gtin)

    # -- containers ------------------------------------------------------------------------------

    def reopen(self, sscc: str, *, actor: str, reason: str) -> ReworkResult:
        """closed -> reopened, for changes that are then closed again with ``close``."""
        with self._tx(reason) as run:
            tx = run.tx
            tx.reopen(sscc, actor=actor, reason=reason)
        return run.result

    def close(self, sscc: str, *, actor: str, reason: str) -> ReworkResult:
        """Close (again) a case or pallet: a reclose, or a partial case at batch end.

        Queues a packing event for whatever entered since it was last closed.
        """
        with self._tx(reason) as run:
            tx = run.tx
            container = tx.get(sscc)
            if container.state is ContainerState.CLOSED:
                raise ContainerError(f"{container.level.value} {sscc} is already closed")
            ev = self._events(tx, container.batch)
            close_container(tx, ev, sscc, actor=actor, reason=reason, at=self.clock())
            run.touched.append(sscc)
        return run.result

    def stack(self, pallet: str, cases: Sequence[str], *, actor: str, reason: str) -> ReworkResult:
        """Put closed cases onto a pallet (packing when the pallet is, or was, closed)."""
        with self._tx(reason) as run:
            tx = run.tx
            target = tx.get(pallet)
            if target.level is not ContainerLevel.PALLET:
                raise ContainerError(f"container {pallet} is a case, not a pallet")
            ev = self._events(tx, target.batch)
            with opened(tx, ev, pallet, actor=actor, reason=reason, at=self.clock()):
                put_on(tx, pallet, cases, actor=actor, reason=reason)
            run.touched.append(pallet)
        return run.result

    def break_pallet(self, pallet: str, *, actor: str, reason: str) -> ReworkResult:
        """Take every case off a pallet (unpacking); the pallet stays reopened and empty."""
        with self._tx(reason) as run:
            tx = run.tx
            target = tx.get(pallet)
            if target.level is not ContainerLevel.PALLET:
                raise ContainerError(f"container {pallet} is a case, not a pallet")
            if target.state is ContainerState.CLOSED:
                tx.reopen(pallet, actor=actor, reason=reason)
            ev = self._events(tx, target.batch)
            cases = child_cases(tx, pallet)
            if not cases:
                raise ContainerError(f"pallet {pallet} holds no case")
            take_off(tx, ev, pallet, cases, actor=actor, reason=reason, at=self.clock())
        return run.result

    # -- batch end -------------------------------------------------------------------------------

    def handle_orphans(
        self, batch: str, policy: OrphanPolicy | str, *, actor: str, reason: str
    ) -> OrphanReport:
        """Apply the orphan policy to every commissioned unit of the batch in no case."""
        policy = OrphanPolicy(policy)
        with self._tx(reason) as run:
            tx = run.tx
            serials = tx.orphans(batch)
            if serials and policy is OrphanPolicy.DECOMMISSION:
                ev = self._events(tx, batch)
                rows = tx.resolve(serials, ev.gtin)
                events = ev.step(DECOMMISSION, serials, self.clock())
                tx.move(
                    rows,
                    DECOMMISSION.to_state,
                    actor=actor,
                    reason=reason,
                    gtin=ev.gtin,
                    events=events,
                )
            else:
                tx.note(
                    actor,
                    "aggregation.orphans",
                    reason,
                    {"batch": batch, "policy": policy.value, "orphans": summarise(serials)},
                )
        return OrphanReport(batch, policy, tuple(serials), run.result.events)

    # -- internals -------------------------------------------------------------------------------

    @contextmanager
    def _tx(self, reason: str) -> Iterator[_Run]:
        """One transaction; afterwards ``run.result`` holds its events and what to relabel."""
        check_text(reason, "reason")
        with self.ledger.containers.transaction() as tx:
            mark = tx.outbox_mark()
            run = _Run(tx)
            yield run
            queued = tx.queued_since(mark)
            relabel: list[str] = []
            for sscc in run.touched:
                container = tx.get(sscc)
                chain = [container] + ([tx.get(container.parent)] if container.parent else [])
                for held in chain:
                    if held.state is ContainerState.CLOSED and held.sscc not in relabel:
                        relabel.append(held.sscc)
        run.result = ReworkResult(tuple(queued), tuple(relabel))

    def _events(self, tx: AggregationTx, batch: str | None) -> ContainerEvents:
        """Event builders for a batch, its work order read in the transaction."""
        if batch is None:
            raise ContainerError("the container belongs to no batch: its events cannot be built")
        return ContainerEvents(EventFactory(self.line, tx.work_order(batch)))

    def _case_events(self, tx: AggregationTx, case: str) -> ContainerEvents:
        container = tx.get(case)
        if container.level is not ContainerLevel.CASE:
            raise ContainerError(f"container {case} is a pallet; units are packed in cases")
        return self._events(tx, container.batch)

    @staticmethod
    def _in(
        tx: AggregationTx, case: str, serials: Sequence[str], gtin: str | None
    ) -> list[SerialRow]:
        rows = tx.resolve(serials, gtin)
        for row in rows:
            where = tx.unit_container(row)
            if where != case:
                place = f"in {where}" if where else "in no case"
                raise ContainerError(f"serial {row.serial!r} is not in case {case} (it is {place})")
        return rows

    def _end_of_use(
        self, step: Step, serials: Sequence[str], actor: str, reason: str, gtin: str | None
    ) -> ReworkResult:
        if isinstance(serials, str):
            raise ValidationError("expected a list of serials", field="serials", value=serials)
        with self._tx(reason) as run:
            tx = run.tx
            rows = tx.resolve(serials, gtin)
            by_case: dict[str, list[SerialRow]] = {}
            for row in rows:
                if (case := tx.unit_container(row)) is not None:
                    by_case.setdefault(case, []).append(row)
            for case, packed in by_case.items():
                ev = self._case_events(tx, case)
                with opened(tx, ev, case, actor=actor, reason=reason, at=self.clock()):
                    take_out(tx, ev, case, packed, actor=actor, reason=reason, at=self.clock())
                run.touched.append(case)
            for batch in dict.fromkeys(row.batch for row in rows):
                ev = self._events(tx, batch)
                mine = [row for row in rows if row.batch == batch]
                events = ev.step(step, [row.serial for row in mine], self.clock())
                tx.move(
                    mine, step.to_state, actor=actor, reason=reason, gtin=ev.gtin, events=events
                )
        return run.result
