"""The audit chain head, sent upstream with a batch's events: anchors the trail outside the plant.

When a batch is closed (and its close signed), one EPCIS 2.0 ObjectEvent is queued behind the
batch's other events: action ``OBSERVE`` of the lot (its LGTIN, with the number of packs
commissioned), carrying the head of the audit trail as linectl user extensions, in the namespace
every linectl document declares (``linectl``, :data:`standards.epcis.events.LINECTL_NS`)::

    "linectl:batch": "B1",
    "linectl:auditChainHead": {"linectl:row": 42, "linectl:rowHash": "9f...",
                               "linectl:keyFingerprint": "3c..."}

The event has no bizStep or disposition (it changes nothing about the packs) and its eventID is
its EPCIS event hash, extensions included, like every other event linectl sends. The repository
keeps it; ``linectl audit verify --anchor ROW:HASH`` later checks the ledger against it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from linectl.config import LineSection
from linectl.ledger import Ledger, OutboxEvent, WorkOrder
from linectl.lifecycle import EventFactory
from standards.epcis.events import LINECTL_PREFIX, format_time, with_event_id
from standards.gs1.epc import IdentifierForm, format_lgtin

KIND = "chain-head"
"""The outbox kind of the event."""

HEAD_FIELD = f"{LINECTL_PREFIX}:auditChainHead"
BATCH_FIELD = f"{LINECTL_PREFIX}:batch"


@dataclass(frozen=True)
class ChainHead:
    """The head sent upstream: the audit row, its hash, the key, and the event carrying them."""

    row: int
    row_hash: str
    key_fingerprint: str | None
    event_id: str
    outbox_id: int

    def text(self) -> str:
        key = f" (key {self.key_fingerprint})" if self.key_fingerprint else ""
        return f"row {self.row} {self.row_hash}{key}"


def _now() -> datetime:
    return datetime.now(UTC)


def chain_head_event(
    order: WorkOrder,
    *,
    commissioned: int,
    row: int,
    row_hash: str,
    key_fingerprint: str | None,
    at: datetime,
    line: LineSection | None,
) -> dict[str, Any]:
    """The ObjectEvent carrying the head. Without a line configuration (a CLI close with only
    ``--ledger``) the lot is written as a GS1 Digital Link and the event has no read point."""
    gtin, lot = order.gtin, order.lot
    if line is not None:
        lgtin = format_lgtin(
            gtin,
            lot,
            line.identifier_form,
            line.company_prefix_length,
            domain=line.digital_link_domain,
        )
        offset = line.timezone_offset
    else:
        lgtin = format_lgtin(gtin, lot, IdentifierForm.DIGITAL_LINK, 7)
        offset = "+00:00"
    head: dict[str, Any] = {
        f"{LINECTL_PREFIX}:row": row,
        f"{LINECTL_PREFIX}:rowHash": row_hash,
    }
    if key_fingerprint:
        head[f"{LINECTL_PREFIX}:keyFingerprint"] = key_fingerprint
    event: dict[str, Any] = {
        "type": "ObjectEvent",
        "eventTime": format_time(at),
        "eventTimeZoneOffset": offset,
        "quantityList": [{"epcClass": lgtin, "quantity": commissioned}],
        "action": "OBSERVE",
    }
    if line is not None:
        factory = EventFactory(line, order)
        event["readPoint"] = {"id": factory.location(line.read_point)}
        event["bizLocation"] = {"id": factory.location(line.biz_location)}
    event[BATCH_FIELD] = order.batch
    event[HEAD_FIELD] = head
    return with_event_id(event)


def export_chain_head(
    ledger: Ledger,
    batch: str,
    *,
    actor: str,
    line: LineSection | None = None,
    clock: Callable[[], datetime] = _now,
) -> ChainHead:
    """Queue the batch's chain-head event (after its close and signature); return the head."""
    order = ledger.get_work_order(batch)
    commissioned = ledger.reconcile(batch).commissioned
    fingerprint = ledger.identity.keyed()
    at = clock()
    made: dict[str, Any] = {}

    def build(row: int, row_hash: str) -> OutboxEvent:
        event = chain_head_event(
            order,
            commissioned=commissioned,
            row=row,
            row_hash=row_hash,
            key_fingerprint=fingerprint,
            at=at,
            line=line,
        )
        made.update(row=row, row_hash=row_hash)
        return OutboxEvent(event_id=str(event["eventID"]), kind=KIND, body=event, batch=batch)

    outbox_id, event = ledger.outbox.append_at_head(
        build, actor=actor, batch=batch, reason=f"audit chain head of batch {batch} sent upstream"
    )
    return ChainHead(made["row"], made["row_hash"], fingerprint, event.event_id, outbox_id)
