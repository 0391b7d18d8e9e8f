"""Aggregation steps inside one ledger transaction, with the events that keep EPCIS in step.

When events go out (the rules every command here follows):

- A container's SSCC is commissioned in the transaction that creates it, so its commissioning
  event is queued before any event that names it as a parent.
- Putting units into a case (or cases onto a pallet) queues nothing by itself; closing queues
  one packing event naming the children that no earlier event put in ("announced"). A container
  still ``open`` has never been closed, so none of its children is announced yet.
- Taking a child out queues an unpacking event at once when it was announced (it is about to be
  decommissioned, sampled, moved...), none when it never was.
- Rework on a closed container reopens it and closes it again within the same transaction
  (:func:`opened`), so the order is always: unpacking of what left, then packing of what came in.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime

from linectl.aggregation.events import ContainerEvents
from linectl.ledger import Container, ContainerError, ContainerLevel, ContainerState
from linectl.ledger.aggregation import AggregationTx
from linectl.ledger.serials import SerialRow
from standards.gs1.epc import Identifier


def announced(tx: AggregationTx, ev: ContainerEvents, container: Container) -> set[Identifier]:
    """Children that queued events have put into the container and not taken out."""
    if container.state is ContainerState.OPEN:
        return set()
    return tx.announced_children(ev.parent_ids(container.sscc))


def open_container(
    tx: AggregationTx,
    ev: ContainerEvents,
    sscc: str,
    level: ContainerLevel,
    *,
    actor: str,
    reason: str,
    at: datetime,
) -> Container:
    """A new container of the batch with its SSCC commissioned in the same transaction."""
    batch = ev.factory.work_order.batch
    return tx.create(
        sscc, level, batch=batch, actor=actor, reason=reason, events=[ev.commission(sscc, at)]
    )


def close_container(
    tx: AggregationTx, ev: ContainerEvents, sscc: str, *, actor: str, reason: str, at: datetime
) -> Container:
    """Close with one packing event for the children not yet announced (none: no event)."""
    container = tx.get(sscc)
    known = announced(tx, ev, container)
    if container.level is ContainerLevel.CASE:
        units = tx.units_in(sscc)
        fresh = [u.serial for u in units if Identifier("sgtin", u.gtin, u.serial) not in known]
        events = [ev.pack_units(sscc, fresh, at)] if fresh else []
    else:
        cases = child_cases(tx, sscc)
        fresh = [c for c in cases if Identifier("sscc", c, "") not in known]
        events = [ev.pack_cases(sscc, fresh, at)] if fresh else []
    return tx.close(sscc, actor=actor, reason=reason, events=events, gtin=ev.gtin)


@contextmanager
def opened(
    tx: AggregationTx, ev: ContainerEvents, sscc: str, *, actor: str, reason: str, at: datetime
) -> Iterator[Container]:
    """Reopen a closed container for the steps in the block and close it again after them."""
    container = tx.get(sscc)
    was_closed = container.state is ContainerState.CLOSED
    if was_closed:
        container = tx.reopen(sscc, actor=actor, reason=reason)
    yield container
    if was_closed:
        close_container(tx, ev, sscc, actor=actor, reason=reason, at=at)


def take_out(
    tx: AggregationTx,
    ev: ContainerEvents,
    sscc: str,
    units: Sequence[SerialRow],
    *,
    actor: str,
    reason: str,
    at: datetime,
) -> None:
    """Unpack units from a packable case; an unpacking event for those that were announced."""
    known = announced(tx, ev, tx.get(sscc))
    told = [r.serial for r in units if Identifier("sgtin", r.gtin, r.serial) in known]
    events = [ev.unpack_units(sscc, told, at)] if told else []
    tx.unpack(sscc, units, actor=actor, reason=reason, events=events)


def put_in(
    tx: AggregationTx,
    ev: ContainerEvents,
    sscc: str,
    units: Sequence[SerialRow],
    *,
    actor: str,
    reason: str,
) -> None:
    """Pack units of the case's own batch into a packable case (announced when it closes)."""
    case = tx.get(sscc)
    if case.level is not ContainerLevel.CASE:
        raise ContainerError(f"container {sscc} is a {case.level.value}; units go into cases")
    for index, row in enumerate(units):
        if case.batch is not None and row.batch != case.batch:
            raise ContainerError(
                f"serial {row.serial!r} (index {index}) is of batch {row.batch}; case {sscc} "
                f"holds batch {case.batch}"
            )
    tx.pack(sscc, units, actor=actor, reason=reason)


def child_cases(tx: AggregationTx, pallet: str) -> list[str]:
    """SSCCs of the cases on a pallet, in SSCC order."""
    return list(tx.contents(pallet).children)


def put_on(
    tx: AggregationTx,
    pallet: str,
    cases: Sequence[str],
    *,
    actor: str,
    reason: str,
) -> None:
    """Put closed cases of the pallet's batch onto a packable pallet."""
    target = tx.get(pallet)
    for index, sscc in enumerate(cases):
        case = tx.get(sscc)
        if case.level is not ContainerLevel.CASE:
            raise ContainerError(f"container {sscc} (index {index}) is a pallet, not a case")
        if case.state is not ContainerState.CLOSED:
            raise ContainerError(
                f"case {sscc} (index {index}) is {case.state.value}; close it first"
            )
        if target.batch is not None and case.batch != target.batch:
            raise ContainerError(
                f"case {sscc} (index {index}) is of batch {case.batch}; pallet {pallet} holds "
                f"batch {target.batch}"
            )
        tx.set_parent(sscc, pallet, actor=actor, reason=reason)


def take_off(
    tx: AggregationTx,
    ev: ContainerEvents,
    pallet: str,
    cases: Sequence[str],
    *,
    actor: str,
    reason: str,
    at: datetime,
) -> None:
    """Take cases off a packable pallet; one unpacking event for those that were announced."""
    known = announced(tx, ev, tx.get(pallet))
    told = [c for c in cases if Identifier("sscc", c, "") in known]
    events = [ev.unpack_cases(pallet, told, at)] if told else []
    for index, sscc in enumerate(cases):
        if tx.get(sscc).parent != pallet:
            raise ContainerError(f"case {sscc} (index {index}) is not on pallet {pallet}")
        tx.set_parent(sscc, None, actor=actor, reason=reason, events=events if index == 0 else ())
