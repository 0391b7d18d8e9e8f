"""EPCIS events of cases and pallets: SSCC commissioning, packing and unpacking, rework steps.

Builds on :class:`linectl.lifecycle.EventFactory` (line identity, identifier form, batch data):
an SSCC is written in the line's identifier form like every other identifier, and each event is
an :class:`OutboxEvent` naming the serials it mentions, so ``trace`` finds it. Events whose
children are cases (a pallet's packing) mention no serial; they are found by their parent.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from linectl.ledger import OutboxEvent
from linectl.ledger.hierarchy import parent_notations
from linectl.lifecycle import EventFactory, Step
from standards.epcis import events as epcis
from standards.gs1.epc import format_sscc


@dataclass(frozen=True)
class ContainerEvents:
    """Events of one batch's containers (the batch is the factory's work order)."""

    factory: EventFactory

    @property
    def gtin(self) -> str:
        return self.factory.work_order.gtin

    def sscc_epc(self, sscc: str) -> str:
        """The SSCC as an EPC in the line's identifier form."""
        line = self.factory.line
        return format_sscc(
            sscc, line.identifier_form, line.company_prefix_length, domain=line.digital_link_domain
        )

    def parent_ids(self, sscc: str) -> list[str]:
        """Every notation an event may have used for the SSCC as parent (URN, Digital Links)."""
        return parent_notations(sscc, [self.factory.line.digital_link_domain])

    def commission(self, sscc: str, at: datetime) -> OutboxEvent:
        """ObjectEvent ADD commissioning of a new case's or pallet's SSCC (no ILMD)."""
        event = epcis.commissioning_event([self.sscc_epc(sscc)], **self.factory.common(at))
        return self.factory.outbox("commissioning", event, [])

    def pack_units(self, sscc: str, serials: Sequence[str], at: datetime) -> OutboxEvent:
        """AggregationEvent ADD packing: units into a case."""
        children = [self.factory.epc(s) for s in serials]
        event = epcis.packing_event(self.sscc_epc(sscc), children, **self.factory.common(at))
        return self.factory.outbox("packing", event, serials)

    def unpack_units(self, sscc: str, serials: Sequence[str], at: datetime) -> OutboxEvent:
        """AggregationEvent DELETE unpacking: units out of a case."""
        children = [self.factory.epc(s) for s in serials]
        event = epcis.unpacking_event(self.sscc_epc(sscc), children, **self.factory.common(at))
        return self.factory.outbox("unpacking", event, serials)

    def pack_cases(self, pallet: str, cases: Sequence[str], at: datetime) -> OutboxEvent:
        """AggregationEvent ADD packing: cases onto a pallet."""
        children = [self.sscc_epc(c) for c in cases]
        event = epcis.packing_event(self.sscc_epc(pallet), children, **self.factory.common(at))
        return self.factory.outbox("packing", event, [])

    def unpack_cases(self, pallet: str, cases: Sequence[str], at: datetime) -> OutboxEvent:
        """AggregationEvent DELETE unpacking: cases off a pallet."""
        children = [self.sscc_epc(c) for c in cases]
        event = epcis.unpacking_event(self.sscc_epc(pallet), children, **self.factory.common(at))
        return self.factory.outbox("unpacking", event, [])

    def step(self, step: Step, serials: Sequence[str], at: datetime) -> list[OutboxEvent]:
        """The events of a life-cycle step (decommission, sample, destroy) for units."""
        epcs = [self.factory.epc(s) for s in serials]
        return [
            self.factory.outbox(kind, build(epcs, **self.factory.common(at)), serials)
            for kind, build in step.events
        ]
