"""EPCIS 2.0 events for what happens on a packaging line (DESIGN.md section 6), hash-identified.

| builder                     | event            | action  | bizStep         | disposition        |
|-----------------------------|------------------|---------|-----------------|--------------------|
| commissioning_event         | ObjectEvent      | ADD     | commissioning   | active             |
| packing_event               | AggregationEvent | ADD     | packing         | -                  |
| unpacking_event             | AggregationEvent | DELETE  | unpacking       | -                  |
| decommissioning_event       | ObjectEvent      | DELETE  | decommissioning | inactive           |
| sampling_event              | ObjectEvent      | OBSERVE | sampling        | non_sellable_other |
| sample_end_of_life_event    | ObjectEvent      | DELETE  | destroying      | destroyed          |
| destroying_event            | ObjectEvent      | DELETE  | destroying      | destroyed          |
| release_event               | ObjectEvent      | OBSERVE | inspecting      | conformant         |
| shipping_event              | ObjectEvent      | OBSERVE | shipping        | in_transit         |
| receiving_event             | ObjectEvent      | OBSERVE | receiving       | returned           |

QA release: CBV has no release step; the batch record was inspected and the packs found
conformant, so a release is ``inspecting`` / ``conformant``. Shipping and receiving carry the
source and destination lists (type ``location``, SGLNs) and the order as a business transaction.

Sampling: CBV 2.0 defines ``sampling`` as always destructive ("sampled objects are no longer viable
in the supply chain") and requires the next event for a sampled serial to be an end-of-life event
(action DELETE). So a sample is first observed as ``sampling`` / ``non_sellable_other`` (it cannot
be sold), then ended with ``destroying`` / ``destroyed``; ``inactive`` is not used because CBV
reserves it for objects that "may be reintroduced to the supply chain".

Commissioning carries the lot and expiry in ILMD as CBV master data (``cbvmda:lotNumber``,
``cbvmda:itemExpirationDate``) and the packaging-material lots of the work order as a linectl user
extension, ``linectl:packagingMaterialLots``: one ``{"linectl:material", "linectl:lot"}`` object per
material (carton, leaflet, label roll, ...), in the namespace :data:`LINECTL_NS`, which every
document linectl writes declares in its ``@context`` (:data:`DOCUMENT_CONTEXT`). The SSCC of a case
or pallet is commissioned with the same builder and no ILMD.

Every builder takes identifiers already written in the configured form (see
:mod:`standards.gs1.epc`), an aware event time, and returns the event with ``eventID`` set to its
EPCIS Event Hash ID, computed from the event without ``eventID``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from datetime import UTC, date, datetime
from typing import Any, NamedTuple, Protocol

from standards.epcis.hashing import event_hash
from standards.epcis.vocabulary import CBV_MDA, EPCIS_CONTEXT_URL

#: Namespace of linectl's EPCIS user extensions, declared under the prefix ``linectl``.
LINECTL_NS = "https://linectl.dev/ns/epcis#"
LINECTL_PREFIX = "linectl"
#: The ``@context`` of every EPCIS document linectl writes, and the one its event hashes assume.
#: Every prefix the events use is declared inline, ``cbvmda`` too although the standard context
#: has it: the GS1 reference hash tool expands only prefixes declared in the document itself.
DOCUMENT_CONTEXT: list[str | dict[str, str]] = [
    EPCIS_CONTEXT_URL,
    {LINECTL_PREFIX: LINECTL_NS, "cbvmda": CBV_MDA},
]

Event = dict[str, Any]

_OFFSET = re.compile(r"[+-](?:(?:0\d|1[0-3]):[0-5]\d|14:00)")


class EventBuildError(ValueError):
    """A builder was given a value it cannot put in an event; names the parameter."""

    def __init__(self, parameter: str, reason: str) -> None:
        self.parameter = parameter
        super().__init__(f"{parameter}: {reason}")


class BizTransaction(NamedTuple):
    """A business transaction reference, e.g. ``BizTransaction("urn:...:PO-1", "po")``."""

    id: str
    type: str | None = None


def with_event_id(event: Mapping[str, Any], context: Any = None) -> Event:
    """``event`` with ``eventID`` (placed after ``type``) set to its Event Hash ID."""
    body = {k: v for k, v in event.items() if k != "eventID"}
    digest = event_hash(body, DOCUMENT_CONTEXT if context is None else context)
    return {"type": body["type"], "eventID": digest} | body


def format_time(moment: datetime, parameter: str = "event_time") -> str:
    """An aware datetime as EPCIS writes it: UTC, milliseconds, ``Z``."""
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise EventBuildError(parameter, "must be timezone-aware")
    text = moment.astimezone(UTC).isoformat(timespec="milliseconds")
    return text.replace("+00:00", "Z")


def _offset(event_time: datetime, timezone_offset: str | None) -> str:
    if timezone_offset is None:
        delta = event_time.utcoffset()
        assert delta is not None  # format_time checked it
        minutes = int(delta.total_seconds()) // 60
        sign = "-" if minutes < 0 else "+"
        timezone_offset = f"{sign}{abs(minutes) // 60:02d}:{abs(minutes) % 60:02d}"
    if not _OFFSET.fullmatch(timezone_offset):
        raise EventBuildError("timezone_offset", f"{timezone_offset!r} is not like +01:00")
    return timezone_offset


def _ids(values: Sequence[str], parameter: str, *, allow_empty: bool = False) -> list[str]:
    if isinstance(values, str):
        raise EventBuildError(parameter, "must be a list of identifiers, not one string")
    ids = list(values)
    if not ids and not allow_empty:
        raise EventBuildError(parameter, "must name at least one identifier")
    seen: set[str] = set()
    for i, value in enumerate(ids):
        _uri(value, f"{parameter}[{i}]")
        if value in seen:
            raise EventBuildError(f"{parameter}[{i}]", f"{value!r} appears twice")
        seen.add(value)
    return ids


_URI = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*:\S+")


def _uri(value: str, parameter: str) -> str:
    if not isinstance(value, str) or not _URI.fullmatch(value):
        raise EventBuildError(parameter, f"{value!r} is not an identifier URI")
    return value


def _event(
    event_type: str,
    members: Mapping[str, Any],
    *,
    action: str,
    biz_step: str,
    disposition: str | None,
    event_time: datetime,
    timezone_offset: str | None,
    read_point: str,
    biz_location: str | None,
    biz_transactions: Sequence[BizTransaction],
    ilmd: Mapping[str, Any] | None = None,
    extra: Mapping[str, Any] | None = None,
) -> Event:
    event: Event = {
        "type": event_type,
        "eventTime": format_time(event_time),
        "eventTimeZoneOffset": _offset(event_time, timezone_offset),
        **members,
        "action": action,
        "bizStep": biz_step,
    }
    if disposition:
        event["disposition"] = disposition
    event["readPoint"] = {"id": _uri(read_point, "read_point")}
    if biz_location is not None:
        event["bizLocation"] = {"id": _uri(biz_location, "biz_location")}
    if biz_transactions:
        event["bizTransactionList"] = [
            {"type": t.type, "bizTransaction": _uri(t.id, f"biz_transactions[{i}]")}
            if t.type
            else {"bizTransaction": _uri(t.id, f"biz_transactions[{i}]")}
            for i, t in enumerate(biz_transactions)
        ]
    if extra:
        event.update(extra)
    if ilmd:
        event["ilmd"] = dict(ilmd)
    return with_event_id(event)


def _lot_text(value: str, parameter: str) -> str:
    if not isinstance(value, str) or not 1 <= len(value) <= 20 or value != value.strip():
        raise EventBuildError(parameter, f"{value!r} must be 1 to 20 characters, no outer spaces")
    return value


def commissioning_ilmd(
    lot: str | None, expiry: date | None, material_lots: Mapping[str, str] | None
) -> dict[str, Any]:
    """ILMD for commissioning: lot, expiry (cbvmda) and packaging-material lots (linectl)."""
    ilmd: dict[str, Any] = {}
    if lot is not None:
        ilmd["cbvmda:lotNumber"] = _lot_text(lot, "lot")
    if expiry is not None:
        if isinstance(expiry, datetime) or not isinstance(expiry, date):
            raise EventBuildError("expiry", "must be a date (resolve day 00 to the month's end)")
        ilmd["cbvmda:itemExpirationDate"] = expiry.isoformat()
    if material_lots:
        ilmd[f"{LINECTL_PREFIX}:packagingMaterialLots"] = [
            {
                f"{LINECTL_PREFIX}:material": _lot_text(material, "material_lots key"),
                f"{LINECTL_PREFIX}:lot": _lot_text(material_lot, f"material_lots[{material!r}]"),
            }
            for material, material_lot in sorted(material_lots.items())
        ]
    return ilmd


def commissioning_event(
    epcs: Sequence[str],
    *,
    event_time: datetime,
    read_point: str,
    biz_location: str | None = None,
    lot: str | None = None,
    expiry: date | None = None,
    material_lots: Mapping[str, str] | None = None,
    timezone_offset: str | None = None,
    biz_transactions: Sequence[BizTransaction] = (),
) -> Event:
    """ObjectEvent ADD commissioning/active; lot, expiry and material lots go in ILMD."""
    return _event(
        "ObjectEvent",
        {"epcList": _ids(epcs, "epcs")},
        action="ADD",
        biz_step="commissioning",
        disposition="active",
        event_time=event_time,
        timezone_offset=timezone_offset,
        read_point=read_point,
        biz_location=biz_location,
        biz_transactions=biz_transactions,
        ilmd=commissioning_ilmd(lot, expiry, material_lots),
    )


def packing_event(
    parent: str,
    children: Sequence[str],
    *,
    event_time: datetime,
    read_point: str,
    biz_location: str | None = None,
    timezone_offset: str | None = None,
    biz_transactions: Sequence[BizTransaction] = (),
) -> Event:
    """AggregationEvent ADD packing: ``children`` (units or cases) into ``parent`` (an SSCC)."""
    return _event(
        "AggregationEvent",
        {"parentID": _uri(parent, "parent"), "childEPCs": _ids(children, "children")},
        action="ADD",
        biz_step="packing",
        disposition=None,
        event_time=event_time,
        timezone_offset=timezone_offset,
        read_point=read_point,
        biz_location=biz_location,
        biz_transactions=biz_transactions,
    )


def unpacking_event(
    parent: str,
    children: Sequence[str] = (),
    *,
    event_time: datetime,
    read_point: str,
    biz_location: str | None = None,
    timezone_offset: str | None = None,
    biz_transactions: Sequence[BizTransaction] = (),
) -> Event:
    """AggregationEvent DELETE unpacking; no ``children`` means everything in ``parent``."""
    members: dict[str, Any] = {"parentID": _uri(parent, "parent")}
    if children:
        members["childEPCs"] = _ids(children, "children")
    return _event(
        "AggregationEvent",
        members,
        action="DELETE",
        biz_step="unpacking",
        disposition=None,
        event_time=event_time,
        timezone_offset=timezone_offset,
        read_point=read_point,
        biz_location=biz_location,
        biz_transactions=biz_transactions,
    )


def _object_event(
    epcs: Sequence[str], action: str, biz_step: str, disposition: str, **where: Any
) -> Event:
    return _event(
        "ObjectEvent",
        {"epcList": _ids(epcs, "epcs")},
        action=action,
        biz_step=biz_step,
        disposition=disposition,
        **where,
    )


class ObjectEventBuilder(Protocol):
    """An ObjectEvent of one fixed kind (action, bizStep, disposition) for a list of EPCs."""

    def __call__(
        self,
        epcs: Sequence[str],
        *,
        event_time: datetime,
        read_point: str,
        biz_location: str | None = None,
        timezone_offset: str | None = None,
        biz_transactions: Sequence[BizTransaction] = (),
    ) -> Event: ...


def _object_event_kind(
    action: str, biz_step: str, disposition: str, doc: str
) -> ObjectEventBuilder:
    def build(
        epcs: Sequence[str],
        *,
        event_time: datetime,
        read_point: str,
        biz_location: str | None = None,
        timezone_offset: str | None = None,
        biz_transactions: Sequence[BizTransaction] = (),
    ) -> Event:
        return _object_event(
            epcs,
            action,
            biz_step,
            disposition,
            event_time=event_time,
            timezone_offset=timezone_offset,
            read_point=read_point,
            biz_location=biz_location,
            biz_transactions=biz_transactions,
        )

    build.__doc__ = doc
    return build


decommissioning_event = _object_event_kind(
    "DELETE",
    "decommissioning",
    "inactive",
    "ObjectEvent DELETE decommissioning/inactive: the serial no longer names the object.",
)
sampling_event = _object_event_kind(
    "OBSERVE",
    "sampling",
    "non_sellable_other",
    "ObjectEvent OBSERVE sampling/non_sellable_other; follow with sample_end_of_life_event.",
)
destroying_event = _object_event_kind(
    "DELETE",
    "destroying",
    "destroyed",
    "ObjectEvent DELETE destroying/destroyed: the objects are gone for good.",
)


#: End of life of a sampled serial: sampling is destructive in CBV 2.0, so it is destroyed.
sample_end_of_life_event = destroying_event

release_event = _object_event_kind(
    "OBSERVE",
    "inspecting",
    "conformant",
    "ObjectEvent OBSERVE inspecting/conformant: QA released the batch these packs belong to.",
)


def _move_event(
    epcs: Sequence[str],
    biz_step: str,
    disposition: str,
    *,
    source: str,
    destination: str,
    event_time: datetime,
    read_point: str,
    biz_location: str | None,
    timezone_offset: str | None,
    biz_transactions: Sequence[BizTransaction],
) -> Event:
    extra = {
        "sourceList": [{"type": "location", "source": _uri(source, "source")}],
        "destinationList": [{"type": "location", "destination": _uri(destination, "destination")}],
    }
    return _event(
        "ObjectEvent",
        {"epcList": _ids(epcs, "epcs")},
        action="OBSERVE",
        biz_step=biz_step,
        disposition=disposition,
        event_time=event_time,
        timezone_offset=timezone_offset,
        read_point=read_point,
        biz_location=biz_location,
        biz_transactions=biz_transactions,
        extra=extra,
    )


def shipping_event(
    epcs: Sequence[str],
    *,
    source: str,
    destination: str,
    event_time: datetime,
    read_point: str,
    biz_location: str | None = None,
    timezone_offset: str | None = None,
    biz_transactions: Sequence[BizTransaction] = (),
) -> Event:
    """ObjectEvent OBSERVE shipping/in_transit from ``source`` to ``destination`` (SGLNs)."""
    return _move_event(
        epcs,
        "shipping",
        "in_transit",
        source=source,
        destination=destination,
        event_time=event_time,
        read_point=read_point,
        biz_location=biz_location,
        timezone_offset=timezone_offset,
        biz_transactions=biz_transactions,
    )


def receiving_event(
    epcs: Sequence[str],
    *,
    source: str,
    destination: str,
    event_time: datetime,
    read_point: str,
    biz_location: str | None = None,
    timezone_offset: str | None = None,
    biz_transactions: Sequence[BizTransaction] = (),
) -> Event:
    """ObjectEvent OBSERVE receiving/returned: goods sent back from ``source`` arrived here."""
    return _move_event(
        epcs,
        "receiving",
        "returned",
        source=source,
        destination=destination,
        event_time=event_time,
        read_point=read_point,
        biz_location=biz_location,
        timezone_offset=timezone_offset,
        biz_transactions=biz_transactions,
    )
