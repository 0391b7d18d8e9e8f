"""Life-cycle steps of serialized units: each changes the ledger and queues its EPCIS event at once.

The state change and the event commit in one ledger transaction, so no commissioned serial is
ever without its commissioning event, and no event is queued for a change that did not happen.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any

from linectl.config import LineSection
from linectl.ledger import (
    Ledger,
    MaterialsChanged,
    OutboxEvent,
    SerialState,
    UnitResult,
    Verdict,
    WorkOrder,
    verdict_of,
)
from standards.epcis import events as epcis
from standards.gs1.dates import parse_yymmdd
from standards.gs1.epc import IdentifierForm, dl_to_urn, format_sgtin, urn_to_dl


def _now() -> datetime:
    return datetime.now(UTC)


@functools.lru_cache(maxsize=8192)
def _sgtin(gtin: str, serial: str, form: IdentifierForm, cpl: int, domain: str) -> str:
    """A unit's EPC, cached: it goes into its commissioning event and its case's packing event."""
    return format_sgtin(gtin, serial, form, cpl, domain=domain)


@dataclass(frozen=True)
class EventFactory:
    """Everything an event needs besides the serials: line identity, identifier form, batch data.

    ``materials`` are the packaging-material lots on the line now: the work order's at first,
    updated in place when the ledger reports a change (``linectl batch material``).
    """

    line: LineSection
    work_order: WorkOrder
    materials: dict[str, str] = field(default_factory=dict, compare=False)

    def __post_init__(self) -> None:
        if not self.materials:
            self.materials.update(self.work_order.materials)

    def epc(self, serial: str) -> str:
        line = self.line
        return _sgtin(
            self.work_order.gtin,
            serial,
            line.identifier_form,
            line.company_prefix_length,
            line.digital_link_domain,
        )

    def location(self, value: str) -> str:
        """An SGLN from the config, written in the line's identifier form."""
        wants_urn = self.line.identifier_form is IdentifierForm.EPC_URN
        if wants_urn and value.startswith("http"):
            return dl_to_urn(value, self.line.company_prefix_length)
        if not wants_urn and value.startswith("urn:"):
            return urn_to_dl(value, domain=self.line.digital_link_domain)
        return value

    def common(self, at: datetime) -> dict[str, Any]:
        return {
            "event_time": at,
            "read_point": self.location(self.line.read_point),
            "biz_location": self.location(self.line.biz_location),
            "timezone_offset": self.line.timezone_offset,
        }

    def expiry(self) -> date:
        return parse_yymmdd(self.work_order.expiry, allow_day_zero=True)

    def outbox(self, kind: str, event: dict[str, Any], serials: Sequence[str]) -> OutboxEvent:
        return OutboxEvent(
            event_id=str(event["eventID"]),
            kind=kind,
            body=event,
            serials=list(serials),
            batch=self.work_order.batch,
        )


def record_verdicts(
    ledger: Ledger,
    factory: EventFactory,
    units: Sequence[UnitResult],
    *,
    actor: str = "line",
    clock: Callable[[], datetime] = _now,
) -> None:
    """GOOD units become Commissioned with one commissioning event; rejects become LabelScrapped.

    The event carries the material lots on the line when the verdicts are written: if a change
    was recorded since the factory last heard, the event is built again with the new lots.
    """
    good = [u.serial for u in units if verdict_of(u.verdict) is Verdict.GOOD]
    if not good:
        ledger.record_units(units, actor=actor, gtin=factory.work_order.gtin)
        return
    at = clock()
    for _ in range(3):
        lots = dict(factory.materials)
        wo = factory.work_order
        event = epcis.commissioning_event(
            [factory.epc(s) for s in good],
            lot=wo.lot,
            expiry=factory.expiry(),
            material_lots=lots or None,
            **factory.common(at),
        )
        events = [factory.outbox("commissioning", event, good)]
        try:
            ledger.record_units(units, actor=actor, gtin=wo.gtin, events=events, materials=lots)
            return
        except MaterialsChanged as exc:
            factory.materials.clear()
            factory.materials.update(exc.current)
    raise MaterialsChanged(factory.work_order.batch, dict(factory.materials))


@dataclass(frozen=True)
class Step:
    """A rework step on commissioned units: the state they move to and the events it emits."""

    to_state: SerialState
    events: tuple[tuple[str, Callable[..., dict[str, Any]]], ...]


DECOMMISSION = Step(SerialState.INACTIVE, (("decommissioning", epcis.decommissioning_event),))
"""Taken out of the supply chain (damaged, say): Inactive."""

SAMPLE = Step(
    SerialState.SAMPLED,
    (("sampling", epcis.sampling_event), ("sampling-end-of-life", epcis.sample_end_of_life_event)),
)
"""QA samples: Sampled, with the sampling event and its end of life (CBV: destructive)."""

DESTROY = Step(SerialState.DESTROYED, (("destroying", epcis.destroying_event),))
"""Destroyed."""


def apply_step(
    ledger: Ledger,
    factory: EventFactory,
    step: Step,
    serials: Sequence[str],
    *,
    actor: str,
    reason: str,
    clock: Callable[[], datetime] = _now,
) -> int:
    """Move ``serials`` to the step's state and queue its events, in one ledger transaction."""
    at = clock()
    epcs = [factory.epc(s) for s in serials]
    events = [
        factory.outbox(kind, build(epcs, **factory.common(at)), serials)
        for kind, build in step.events
    ]
    return ledger.transition(
        list(serials), step.to_state, actor, reason, gtin=factory.work_order.gtin, events=events
    )


def return_unused(
    ledger: Ledger,
    batch: str,
    *,
    actor: str,
    reason: str,
    serials: Sequence[str] | None = None,
) -> int:
    """Serials never printed go back to the site pool: Allocated -> Unallocated (returned).

    ``serials``: only these (those the pool manager just confirmed); default every Allocated one.
    """
    unused = (
        list(serials) if serials is not None else ledger.list_serials(batch, SerialState.ALLOCATED)
    )
    if not unused:
        return 0
    gtin = ledger.get_work_order(batch).gtin
    return ledger.transition(unused, SerialState.UNALLOCATED, actor, reason, gtin=gtin)


RELEASE_CHUNK = 10_000
"""EPCs per release event: a batch of a million units is released in a hundred events."""


def release_events(
    line: LineSection, *, clock: Callable[[], datetime] = _now
) -> Callable[[WorkOrder, Sequence[str]], list[OutboxEvent]]:
    """The builder of a batch release's events (inspecting/conformant), for the ledger to call
    inside the release transaction with the serials it moves to Released."""

    def build(order: WorkOrder, serials: Sequence[str]) -> list[OutboxEvent]:
        factory = EventFactory(line, order)
        where = factory.common(clock())
        events = []
        for start in range(0, len(serials), RELEASE_CHUNK):
            part = list(serials[start : start + RELEASE_CHUNK])
            event = epcis.release_event([factory.epc(s) for s in part], **where)
            events.append(factory.outbox("release", event, part))
        return events

    return build
