"""What an EPCIS 2.0 event says about serials and containers: pure, no storage.

The resolver keeps each serial's status from the events it captures (DESIGN.md section 6 mapping):

| event                                        | change                                       |
|----------------------------------------------|----------------------------------------------|
| ObjectEvent ADD commissioning                | serial commissioned (lot, expiry from ILMD)  |
| AggregationEvent ADD packing                 | child packed into parent SSCC (case, pallet) |
| AggregationEvent DELETE unpacking            | child (or every child) out of parent         |
| ObjectEvent OBSERVE/DELETE shipping          | shipped, to the destination (owning party)   |
| disposition sellable_accessible / _not_      | released                                     |
| ObjectEvent DELETE decommissioning, inactive | decommissioned                               |
| disposition dispensed                        | decommissioned (dispensed)                   |
| ObjectEvent sampling                         | sampled                                      |
| ObjectEvent DELETE destroying, destroyed     | destroyed                                    |

Identifiers may be EPC URNs or GS1 Digital Links (``standards.gs1.epc``); others are ignored.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from standards.epcis.events import format_time
from standards.gs1.epc import DigitalLinkError, Identifier, UrnError, parse_dl, parse_urn


class SerialStatus(enum.StrEnum):
    """A serial's status as the resolver knows it from events."""

    COMMISSIONED = "commissioned"
    RELEASED = "released"
    SHIPPED = "shipped"
    DECOMMISSIONED = "decommissioned"
    SAMPLED = "sampled"
    DESTROYED = "destroyed"


#: Statuses after which a pack is no longer in the supply chain.
OUT_OF_CHAIN = frozenset(
    {SerialStatus.DECOMMISSIONED, SerialStatus.SAMPLED, SerialStatus.DESTROYED}
)


@dataclass(frozen=True)
class Commission:
    gtin: str
    serial: str
    lot: str | None
    expiry: str | None
    """ISO date, as in ILMD ``cbvmda:itemExpirationDate``."""
    at_ms: int


@dataclass(frozen=True)
class Pack:
    """``child`` (an SGTIN or SSCC identifier) into ``parent`` (an SSCC); None parent = unpacked."""

    child: Identifier
    parent: str | None
    at_ms: int


@dataclass(frozen=True)
class UnpackAll:
    parent: str
    at_ms: int


@dataclass(frozen=True)
class StatusChange:
    """An SGTIN or SSCC moves to ``status``; ``detail`` is the reason or destination."""

    target: Identifier
    status: SerialStatus
    detail: str | None
    at_ms: int


Change = Commission | Pack | UnpackAll | StatusChange


def identifier(epc: str) -> Identifier | None:
    """The SGTIN / SSCC / LGTIN named by an EPC URN or Digital Link, or None."""
    try:
        if epc.startswith("urn:"):
            return parse_urn(epc)[0]
        return parse_dl(epc)
    except (UrnError, DigitalLinkError):
        return None


def event_time_ms(event: Mapping[str, Any]) -> int:
    """The event time in epoch milliseconds (the schema guarantees a date-time)."""
    text = str(event.get("eventTime", ""))
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return 0
    return int(moment.timestamp() * 1000)


_URN_PART = {"BizStep": "bizstep", "Disp": "disp"}


def _short(value: Any, prefix: str) -> str:
    """A CBV term's short name, from the short name itself, its GS1 web URI or its URN."""
    text = str(value or "")
    for start in (f"https://ref.gs1.org/cbv/{prefix}-", f"urn:epcglobal:cbv:{_URN_PART[prefix]}:"):
        if text.startswith(start):
            return text[len(start) :]
    return text


def _destination(event: Mapping[str, Any]) -> str | None:
    for item in event.get("destinationList") or []:
        if isinstance(item, Mapping) and item.get("destination"):
            return str(item["destination"])
    return None


def _status_of(event: Mapping[str, Any]) -> tuple[SerialStatus, str | None] | None:
    step = _short(event.get("bizStep"), "BizStep")
    disposition = _short(event.get("disposition"), "Disp")
    if step == "shipping":
        return SerialStatus.SHIPPED, _destination(event)
    if step == "destroying" or disposition == "destroyed":
        return SerialStatus.DESTROYED, step or disposition
    if step == "sampling":
        return SerialStatus.SAMPLED, "sampling"
    if disposition == "dispensed":
        return SerialStatus.DECOMMISSIONED, "dispensed"
    if step == "decommissioning" or disposition == "inactive":
        return SerialStatus.DECOMMISSIONED, step or disposition
    if (
        disposition in ("sellable_accessible", "sellable_not_accessible")
        and step != "commissioning"
    ):
        return SerialStatus.RELEASED, step or None
    return None


def changes_of(event: Mapping[str, Any]) -> list[Change]:
    """The changes one event makes, in order; events the resolver has no use for give none."""
    at = event_time_ms(event)
    kind = event.get("type")
    action = event.get("action")
    step = _short(event.get("bizStep"), "BizStep")
    if kind == "AggregationEvent":
        parent_id = identifier(str(event.get("parentID", "")))
        if parent_id is None or parent_id.scheme != "sscc":
            return []
        children = [identifier(str(c)) for c in event.get("childEPCs") or []]
        known = [c for c in children if c is not None and c.scheme in ("sgtin", "sscc")]
        if action == "ADD":
            return [Pack(c, parent_id.key, at) for c in known]
        if action == "DELETE":
            if not event.get("childEPCs"):
                return [UnpackAll(parent_id.key, at)]
            return [Pack(c, None, at) for c in known]
        return []
    if kind != "ObjectEvent":
        return []
    targets = [identifier(str(e)) for e in event.get("epcList") or []]
    found = [t for t in targets if t is not None and t.scheme in ("sgtin", "sscc")]
    if action == "ADD" and step == "commissioning":
        ilmd = event.get("ilmd") if isinstance(event.get("ilmd"), Mapping) else {}
        assert isinstance(ilmd, Mapping)
        lot = ilmd.get("cbvmda:lotNumber")
        expiry = ilmd.get("cbvmda:itemExpirationDate")
        return [
            Commission(
                t.key,
                t.qualifier,
                str(lot) if lot is not None else None,
                str(expiry) if expiry is not None else None,
                at,
            )
            for t in found
            if t.scheme == "sgtin"
        ]
    status = _status_of(event)
    if status is None:
        return []
    return [StatusChange(t, status[0], status[1], at) for t in found]


def iso_ms(at_ms: int) -> str:
    """Epoch milliseconds as an EPCIS date-time (UTC)."""
    return format_time(datetime.fromtimestamp(at_ms / 1000, UTC))
