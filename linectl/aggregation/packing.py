"""The line's case packer and palletiser: units into cases, cases onto pallets, labels verified.

``PackingService`` is synchronous and blocking (SQLite): the runtime calls it from a worker
thread (``asyncio.to_thread``); a lock serialises calls. The flow it implements:

1. ``add_units(serials)``, in line order, for each verified-good pack reaching the packer once
   its verdict is durable. The first unit opens a case: an SSCC from the ``SsccSource``,
   commissioned in the transaction that creates the case. Each call is one transaction per
   case it touches; the one that fills a case (``case_size``) also closes it with its packing
   event, so after a crash a case is either closed with its event or open with its units.
2. Each closed case comes back as a :class:`ClosedContainer` whose ``label`` is printed
   (the case-label printer lays out ``label`` its own way).
3. ``verify_label(sscc, read)`` with the reader's read of that label. A read that equals the
   SSCC accepts the case, which goes onto the open pallet in the same transaction (a pallet is
   opened, and its SSCC commissioned, as needed); the pallet closes at ``pallet_size`` cases
   with its packing event and comes back to be labelled and verified the same way.

Label rule: a failed verification leaves the container closed but not accepted (its
aggregation is a fact; only its label is in doubt). The outcome says ``reprint`` until
``label_attempts`` reads have failed, then ``divert``: the case leaves the line for rework
(reprint and ``linectl pallet add`` by an operator, or ``linectl case reopen``). A container
closed but not verified is remembered across restarts through the audit trail (every
verification is an audit row ``label.verify``): ``resume()`` lists it again.

``close_case`` / ``close_pallet`` close by command (a partial case at batch end included).

Case check (``[aggregation] case_check = "camera"``): before its label is read, a closed case
is checked against the case camera's frame of it (``check_case``, see
:mod:`linectl.aggregation.case_check`): every code in the frame against the ledger and
against the units packed into the case in line order. The check is an audit row
``case.check``; a rejected case is diverted for rework like a case whose label never read.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Literal

from linectl.aggregation.events import ContainerEvents
from linectl.aggregation.labels import ContainerLabel, LabelCheck, check_read
from linectl.aggregation.sscc_source import SsccSource, SsccUnavailable
from linectl.aggregation.steps import close_container, open_container, put_in, put_on
from linectl.config import PackingSettings
from linectl.ledger import (
    Container,
    ContainerError,
    ContainerLevel,
    ContainerState,
    Ledger,
)
from linectl.ledger.aggregation import AggregationTx
from linectl.ledger.hierarchy import fill_counts, labels_verified, last_seq_in, orphans, tree
from linectl.lifecycle import EventFactory

if TYPE_CHECKING:
    from drivers.interfaces import Frame
    from linectl.aggregation.case_check import CaseCheck

Action = Literal["accepted", "reprint", "divert"]
_SSCC_TRIES = 5


def _now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class ClosedContainer:
    """A case or pallet just closed: print its label, then verify it."""

    container: Container
    label: ContainerLabel
    partial: bool = False

    @property
    def sscc(self) -> str:
        return self.container.sscc


@dataclass(frozen=True)
class LabelOutcome:
    """What a label verification decided, and a pallet it filled (to label in turn)."""

    sscc: str
    check: LabelCheck
    action: Action
    attempts: int
    closed_pallet: ClosedContainer | None = None

    @property
    def accepted(self) -> bool:
        return self.action == "accepted"


@dataclass(frozen=True)
class PackingStatus:
    """The packer's state for the status document."""

    case: str | None
    case_units: int
    pallet: str | None
    pallet_cases: int
    awaiting_label: tuple[str, ...]
    diverted: tuple[str, ...] = field(default=())
    rejected: dict[str, tuple[str, ...]] = field(default_factory=dict)  # SSCC -> case check


class PackingService:
    """Packs one batch (the factory's work order); see the module docstring."""

    def __init__(
        self,
        ledger: Ledger,
        factory: EventFactory,
        source: SsccSource,
        settings: PackingSettings | None = None,
        *,
        clock: Callable[[], datetime] = _now,
    ) -> None:
        self.ledger = ledger
        self.events = ContainerEvents(factory)
        self.source = source
        self.settings = settings or PackingSettings()
        self.clock = clock
        self.batch = factory.work_order.batch
        self._lock = threading.RLock()
        self.case: str | None = None
        self.pallet: str | None = None
        self.awaiting: dict[str, int] = {}  # closed, label not verified: SSCC -> failed reads
        self.diverted: set[str] = set()
        self.rejected: dict[str, tuple[str, ...]] = {}  # by the case check: SSCC -> reasons

    # -- state -----------------------------------------------------------------------------------

    def resume(self) -> PackingStatus:
        """Take up the batch where the ledger left it: open case and pallet, labels to verify."""
        with self._lock:
            mine = self.ledger.containers.find(batch=self.batch)
            self.case = _newest(mine, ContainerLevel.CASE)
            self.pallet = (
                _newest(mine, ContainerLevel.PALLET) if self.settings.palletising else None
            )
            closed = [
                c.sscc
                for c in mine
                if c.state is ContainerState.CLOSED
                and (c.level is ContainerLevel.PALLET or c.parent is None)
            ]
            verified = self.ledger.containers.read(labels_verified, closed)
            self.awaiting = {sscc: 0 for sscc in closed if not verified[sscc]}
            self.diverted = set()
            self.rejected = {}
            return self.status()

    def status(self) -> PackingStatus:
        with self._lock:
            case_units, pallet_cases = 0, 0
            if self.case is not None or self.pallet is not None:
                case_units, pallet_cases = self.ledger.containers.read(
                    fill_counts, self.case, self.pallet
                )
            return PackingStatus(
                self.case,
                case_units,
                self.pallet,
                pallet_cases,
                tuple(s for s in self.awaiting if s not in self.diverted),
                tuple(sorted(self.diverted)),
                dict(self.rejected),
            )

    def label(self, sscc: str) -> ContainerLabel:
        """The label of a container as it is now (to print, or reprint after rework)."""
        node = self.ledger.containers.read(tree, sscc)
        wo = self.events.factory.work_order
        return ContainerLabel(
            sscc=sscc,
            level=node.container.level,
            gtin=wo.gtin,
            lot=wo.lot,
            expiry=wo.expiry,
            units=node.unit_count,
            cases=len(node.children),
        )

    def orphans(self) -> list[str]:
        """Commissioned units of the batch in no case (at batch end: for the orphan policy)."""
        return self.ledger.containers.read(orphans, self.batch)

    # -- line flow -------------------------------------------------------------------------------

    def add_units(self, serials: Sequence[str]) -> list[ClosedContainer]:
        """Pack verified-good units in line order; return the cases this filled and closed."""
        closed: list[ClosedContainer] = []
        with self._lock:
            pos = 0
            while pos < len(serials):
                if self.case is None:
                    self.case = self._open(ContainerLevel.CASE)
                taken, full, units = self._fill(self.case, serials[pos:])
                pos += max(taken, 0)
                if full is not None or taken < 0:
                    self.case = None
                if full is not None:
                    closed.append(self._closed(full, partial=False, units=units))
        return closed

    def _fill(self, sscc: str, serials: Sequence[str]) -> tuple[int, Container | None, int]:
        """One transaction: as many units as the case takes, and its close when that fills it.

        Returns (units taken, the case if it closed, units in it); (-1, None, 0) when the case
        is no longer open (an operator closed it): the units go into a new one.
        """
        size, actor = self.settings.case_size, self.settings.actor
        with self.ledger.containers.transaction() as tx:
            if tx.get(sscc).state is not ContainerState.OPEN:
                return -1, None, 0
            units = tx.unit_count(sscc)
            chunk = serials[: max(size - units, 0)]
            if chunk:
                rows = tx.resolve(chunk, self.events.gtin)
                put_in(tx, self.events, sscc, rows, actor=actor, reason="packed in line order")
                units += len(rows)  # pack refuses a unit already in a case, resolve a repeat
            if units < size:
                return len(chunk), None, units
            reason = f"full: {size} units"
            case = close_container(
                tx, self.events, sscc, actor=actor, reason=reason, at=self.clock()
            )
            return len(chunk), case, units

    def close_case(
        self, *, actor: str | None = None, reason: str = "closed by command"
    ) -> ClosedContainer | None:
        """Close the open case now, partial (batch end, or an operator's command); None if empty.

        An empty open case stays open: there is nothing to record or label.
        """
        with self._lock:
            if self.case is None:
                return None
            sscc = self.case
            with self.ledger.containers.transaction() as tx:
                if tx.get(sscc).state is not ContainerState.OPEN:
                    self.case = None
                    return None
                count = tx.unit_count(sscc)
                if not count:
                    return None
                actor = actor or self.settings.actor
                case = close_container(
                    tx, self.events, sscc, actor=actor, reason=reason, at=self.clock()
                )
            self.case = None
            return self._closed(case, partial=count < self.settings.case_size)

    def close_pallet(
        self, *, actor: str | None = None, reason: str = "closed by command"
    ) -> ClosedContainer | None:
        """Close the open pallet now (batch end, or a command); None when there is none or empty."""
        with self._lock:
            if self.pallet is None:
                return None
            sscc = self.pallet
            with self.ledger.containers.transaction() as tx:
                pallet = tx.get(sscc)
                if pallet.state is not ContainerState.OPEN:
                    self.pallet = None
                    return None
                if not tx.contents(sscc).children:
                    return None
                closed = self._close_pallet(tx, sscc, actor or self.settings.actor, reason)
            return closed

    def verify_label(
        self, sscc: str, read: str | None, *, actor: str | None = None
    ) -> LabelOutcome:
        """Check a reader's read of a container's label; accept, or say reprint or divert."""
        actor = actor or self.settings.actor
        with self._lock:
            check = check_read(sscc, read)
            attempts = self.awaiting.get(sscc, 0) + 1
            closed_pallet: ClosedContainer | None = None
            container = self.ledger.containers.get(sscc)
            if container.state is not ContainerState.CLOSED:
                raise ContainerError(f"{container.level.value} {sscc} is not closed")
            onto_pallet = (
                check.ok
                and container.level is ContainerLevel.CASE
                and container.parent is None
                and self.settings.palletising
            )
            if onto_pallet:
                self._pallet_ready()
            pallet_before, awaiting_before = self.pallet, dict(self.awaiting)
            try:
                with self.ledger.containers.transaction() as tx:
                    after = {"sscc": sscc, "level": container.level.value, "ok": check.ok}
                    tx.note(actor, "label.verify", check.reason, after | {"read": read})
                    if onto_pallet:
                        closed_pallet = self._stack(tx, sscc, actor)
            except BaseException:
                self.pallet, self.awaiting = pallet_before, awaiting_before
                raise
            if check.ok:
                self.awaiting.pop(sscc, None)
                self.diverted.discard(sscc)
                self.rejected.pop(sscc, None)
                action: Action = "accepted"
            else:
                self.awaiting[sscc] = attempts
                action = "reprint" if attempts < self.settings.label_attempts else "divert"
                if action == "divert":
                    self.diverted.add(sscc)
            return LabelOutcome(sscc, check, action, attempts, closed_pallet)

    def last_seq(self, sscc: str) -> int | None:
        """The seq of the last pack in a case: what its case-camera frame is paired by."""
        return self.ledger.containers.read(last_seq_in, sscc)

    def check_case(
        self,
        sscc: str,
        frame: Frame | None,
        *,
        frame_seq: int | None = None,
        missing_why: str = "no frame of the case",
        actor: str | None = None,
    ) -> CaseCheck:
        """Check a closed case against its case-camera frame (None: it never came, a reject).

        Records the audit row ``case.check``; a rejected case is diverted for rework. The frame
        is decoded outside the packing lock, so packing goes on meanwhile; a case whose contents
        changed during its check (a rework) is refused with ContainerError, nothing recorded.
        """
        from linectl.aggregation.case_check import check_case_frame, no_frame

        actor = actor or self.settings.actor
        packed = self._closed_contents(sscc)
        if frame is None:
            check = no_frame(len(packed), missing_why)
        else:
            check = check_case_frame(
                frame, max(len(packed), 1), self.batch, self.ledger, case=sscc,
                gtin=self.events.gtin, packed=packed,
            )  # fmt: skip
        with self._lock:
            if self._closed_contents(sscc) != packed:
                raise ContainerError(f"case {sscc} changed while it was checked: check it again")
            findings = [
                {"problem": f.problem.value, "detail": f.detail, "serial": f.serial}
                for f in check.findings
            ]
            after = {
                "sscc": sscc, "ok": check.accepted, "reasons": list(check.reasons),
                "expected": check.expected, "found": check.found, "frame_seq": frame_seq,
                "findings": findings,
            }  # fmt: skip
            why = "case frame matches" if check.accepted else ", ".join(check.reasons)
            with self.ledger.containers.transaction() as tx:
                tx.note(actor, "case.check", why, after)
            if not check.accepted:
                self.rejected[sscc] = check.reasons
                self.diverted.add(sscc)
            return check

    # -- internals -------------------------------------------------------------------------------

    def _closed_contents(self, sscc: str) -> list[str]:
        """The serials in closed container ``sscc`` (ContainerError if it is not closed)."""
        with self._lock:
            container = self.ledger.containers.get(sscc)
            if container.state is not ContainerState.CLOSED:
                raise ContainerError(f"{container.level.value} {sscc} is not closed")
            return list(self.ledger.containers.contents(sscc).serials)

    def _open(self, level: ContainerLevel) -> str:
        """A new container of the batch, its SSCC commissioned, in a transaction of its own."""
        actor, reason = self.settings.actor, f"new {level.value} for batch {self.batch}"
        for _ in range(_SSCC_TRIES):
            sscc = self.source.next_sscc()
            try:
                with self.ledger.containers.transaction() as tx:
                    at = self.clock()
                    open_container(tx, self.events, sscc, level, actor=actor, reason=reason, at=at)
            except ContainerError as exc:
                if "already used" not in str(exc):
                    raise
                continue
            return sscc
        raise SsccUnavailable(f"the SSCC source keeps giving SSCCs already in use ({sscc})")

    def _pallet_ready(self) -> None:
        """Make sure an open pallet is there for the next accepted case."""
        if self.pallet is not None and (
            self.ledger.containers.get(self.pallet).state is not ContainerState.OPEN
        ):
            self.pallet = None
        if self.pallet is None:
            self.pallet = self._open(ContainerLevel.PALLET)

    def _stack(self, tx: AggregationTx, case: str, actor: str) -> ClosedContainer | None:
        """Put an accepted case onto the open pallet (opening one); close the pallet when full."""
        pallet = self.pallet
        assert pallet is not None  # verify_label opened one
        put_on(tx, pallet, [case], actor=actor, reason="label verified: stacked in line order")
        if tx.cases_on(pallet) < self.settings.pallet_size:
            return None
        return self._close_pallet(tx, pallet, actor, f"full: {self.settings.pallet_size} cases")

    def _close_pallet(
        self, tx: AggregationTx, sscc: str, actor: str, reason: str
    ) -> ClosedContainer:
        pallet = close_container(tx, self.events, sscc, actor=actor, reason=reason, at=self.clock())
        self.pallet = None
        counted = tx.count(sscc)
        cases, units = counted.cases, counted.units
        self.awaiting[sscc] = 0
        wo = self.events.factory.work_order
        label = ContainerLabel(
            sscc, ContainerLevel.PALLET, wo.gtin, wo.lot, wo.expiry, int(units), int(cases)
        )
        return ClosedContainer(pallet, label, partial=int(cases) < self.settings.pallet_size)

    def _closed(
        self, case: Container, *, partial: bool, units: int | None = None
    ) -> ClosedContainer:
        """A case just closed, awaiting its label; ``units``: how many it holds, when known
        (a case holds no containers, so that is all its label needs from the ledger)."""
        self.awaiting[case.sscc] = 0
        if units is None:
            return ClosedContainer(case, self.label(case.sscc), partial)
        wo = self.events.factory.work_order
        label = ContainerLabel(case.sscc, ContainerLevel.CASE, wo.gtin, wo.lot, wo.expiry, units, 0)
        return ClosedContainer(case, label, partial)


def _newest(containers: Sequence[Container], level: ContainerLevel) -> str | None:
    """The newest open container of a level (the line's current one), if any."""
    candidates = [c for c in containers if c.level is level and c.state is ContainerState.OPEN]
    if not candidates:
        return None
    return max(candidates, key=lambda c: (c.created_at, c.sscc)).sscc
