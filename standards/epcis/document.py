"""EPCIS 2.0 documents: the envelope linectl captures upstream, and a check of its event IDs."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from standards.epcis.events import DOCUMENT_CONTEXT, EventBuildError, format_time
from standards.epcis.hashing import event_hash

SCHEMA_VERSION = "2.0"


def epcis_document(
    events: Sequence[Mapping[str, Any]],
    *,
    creation_date: datetime,
    document_id: str | None = None,
) -> dict[str, Any]:
    """An EPCISDocument holding ``events`` in order, with linectl's ``@context``."""
    if isinstance(events, Mapping):
        raise EventBuildError("events", "must be a list of events, not one event")
    document: dict[str, Any] = {
        "@context": [c if isinstance(c, str) else dict(c) for c in DOCUMENT_CONTEXT],
        "type": "EPCISDocument",
        "schemaVersion": SCHEMA_VERSION,
        "creationDate": format_time(creation_date, "creation_date"),
        "epcisBody": {"eventList": [dict(e) for e in events]},
    }
    if document_id is not None:
        document = {"id": document_id} | document
    return document


def mismatched_event_ids(document: Mapping[str, Any]) -> list[int]:
    """Positions of events whose ``eventID`` is missing or not their recomputed Event Hash ID."""
    context = document.get("@context")
    bad = []
    for i, event in enumerate(document["epcisBody"]["eventList"]):
        body = {k: v for k, v in event.items() if k != "eventID"}
        if event.get("eventID") != event_hash(body, context):
            bad.append(i)
    return bad
