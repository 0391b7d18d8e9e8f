"""Dispatch of cases and pallets: ``linectl ship`` and ``linectl receive`` with their EPCIS events.

Shipping is an ObjectEvent OBSERVE ``shipping`` / ``in_transit`` naming the container, every
case under it and every unit, from the line's business location (source list) to the SGLN it
goes to (destination list), with the order as a ``po`` business transaction. Receiving a return
is OBSERVE ``receiving`` / ``returned`` from the SGLN it came from back to the line's location.
The ledger refuses to ship anything that is open, on a pallet, shipped already or holds a unit
QA has not released (:mod:`linectl.ledger.shipments`).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

from linectl.config import LineSection
from linectl.ledger import Ledger, OutboxEvent, ValidationError, WorkOrder
from linectl.ledger.hierarchy import ContainerTree
from linectl.ledger.shipped import Shipment
from linectl.lifecycle import EventFactory
from standards.epcis import events as epcis
from standards.epcis.events import BizTransaction
from standards.gs1.epc import IdentifierError, dl_to_urn, format_sscc, parse_urn


def _now() -> datetime:
    return datetime.now(UTC)


def sgln_argument(text: str, company_prefix_length: int) -> str:
    """An SGLN typed as an EPC URN or a GS1 Digital Link (``/414/GLN/254/EXT``)."""
    try:
        urn = text if text.startswith("urn:") else dl_to_urn(text, company_prefix_length)
        ident, _ = parse_urn(urn)
    except (IdentifierError, ValueError) as exc:
        raise ValidationError(f"not an SGLN ({exc})", field="SGLN", value=text) from None
    if ident.scheme != "sgln":
        raise ValidationError(f"a {ident.scheme}, not an SGLN", field="SGLN", value=text)
    return text


class Dispatch:
    """Ships and receives containers of any batch in the ledger, from this line's location."""

    def __init__(
        self, ledger: Ledger, line: LineSection, *, clock: Callable[[], datetime] = _now
    ) -> None:
        self.ledger = ledger
        self.line = line
        self.clock = clock

    def ship(self, sscc: str, *, to: str, order: str | None, actor: str, reason: str) -> Shipment:
        """Ship ``sscc`` and everything under it to the SGLN ``to``, under ``order``."""
        to = sgln_argument(to, self.line.company_prefix_length)
        here = self.line.biz_location
        return self.ledger.shipments.ship(
            sscc,
            source=here,
            destination=to,
            business_order=order,
            actor=actor,
            reason=reason,
            event_for=self._builder("shipping", here, to, order),
        )

    def receive(self, sscc: str, *, source: str, actor: str, reason: str) -> Shipment:
        """``sscc`` came back from the SGLN ``source``: its units are Commissioned again."""
        source = sgln_argument(source, self.line.company_prefix_length)
        here = self.line.biz_location
        shipped = self.ledger.shipments.latest(sscc)
        order = shipped.business_order if shipped is not None else None
        return self.ledger.shipments.receive(
            sscc,
            source=source,
            destination=here,
            actor=actor,
            reason=reason,
            event_for=self._builder("receiving", source, here, order),
        )

    def _builder(
        self, kind: str, source: str, destination: str, order: str | None
    ) -> Callable[[ContainerTree, dict[str, WorkOrder]], OutboxEvent]:
        at = self.clock()

        def build(node: ContainerTree, orders: dict[str, WorkOrder]) -> OutboxEvent:
            first = node.container.batch or next(iter(orders))
            factory = EventFactory(self.line, orders[first])
            line = self.line
            epcs = [
                format_sscc(t.container.sscc, line.identifier_form, line.company_prefix_length,
                            domain=line.digital_link_domain)
                for t in node.walk()
            ]  # fmt: skip
            factories = {b: EventFactory(self.line, wo) for b, wo in orders.items()}
            epcs += [factories[u.batch].epc(u.serial) for t in node.walk() for u in t.units]
            txns = [BizTransaction(self._order_uri(order), "po")] if order else []
            builder = epcis.shipping_event if kind == "shipping" else epcis.receiving_event
            event = builder(
                epcs,
                source=factory.location(source),
                destination=factory.location(destination),
                biz_transactions=txns,
                **factory.common(at),
            )
            return OutboxEvent(
                event_id=str(event["eventID"]),
                kind=kind,
                body=event,
                serials=None,
                batch=node.container.batch,
            )

        return build

    def _order_uri(self, order: str) -> str:
        """An order as a business transaction URI: itself if it is one, else the CBV form
        ``urn:epcglobal:cbv:bt:GLN:ID`` with the GLN of the line's business location."""
        if ":" in order:
            return order
        here = self.line.biz_location
        urn = here if here.startswith("urn:") else dl_to_urn(here, self.line.company_prefix_length)
        gln = parse_urn(urn)[0].key
        return f"urn:epcglobal:cbv:bt:{gln}:{order}"
