"""Events, settings and checks shared by the EPCIS sync tests."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import jsonschema
from epcis_event_hash_generator import hash_generator, json_to_py

from linectl.config import EpcisSyncSettings
from simulators.central.capture import ReceivedDocument
from simulators.central.event_store import StoredEvent
from standards.epcis.events import commissioning_event
from standards.epcis.hashing import event_hash
from standards.epcis.schema_check import SchemaChecker

READ_POINT = "urn:epc:id:sgln:4012345.00001.1"
BIZ_LOCATION = "urn:epc:id:sgln:4012345.00001.0"
START = datetime(2026, 3, 2, 6, 0, tzinfo=UTC)


def commissioning_events(count: int, *, batch: str, first_serial: int) -> Iterator[dict[str, Any]]:
    """Real commissioning events of one batch (one pack each), 10 ms apart, with eventIDs."""
    for i in range(count):
        yield commissioning_event(
            [f"urn:epc:id:sgtin:4012345.000001.{first_serial + i}"],
            event_time=START + timedelta(milliseconds=10 * (first_serial + i)),
            read_point=READ_POINT,
            biz_location=BIZ_LOCATION,
            lot=batch,
            expiry=date(2028, 2, 29),
            material_lots={"carton": "C-17", "leaflet": "PL-9"},
        )


def quick_settings(base_url: str, **overrides: Any) -> EpcisSyncSettings:
    """Short delays, so a test never waits long for a retry."""
    values: dict[str, Any] = {
        "base_url": base_url,
        "backoff_initial_s": 0.005,
        "backoff_max_s": 0.05,
        "poll_initial_s": 0.005,
        "poll_max_s": 0.02,
        "request_timeout_s": 10.0,
        "job_timeout_s": 10.0,
    }
    values.update(overrides)
    return EpcisSyncSettings(**values)


def jsonschema_validator(standards: Path) -> jsonschema.protocols.Validator:
    schema = json.loads((standards / "epcis/EPCIS-JSON-Schema.json").read_text())
    cls = jsonschema.validators.validator_for(schema)
    return cls(schema)  # type: ignore[no-any-return]


def check_received_documents(
    received: list[ReceivedDocument], standards: Path, *, sample_every: int = 1
) -> int:
    """DW4: every received document is valid (compiled checker on all of it, and the reference
    ``jsonschema`` validator on its envelope with a sample of its events); returns the count."""
    reference = jsonschema_validator(standards)
    compiled = SchemaChecker(reference.schema)
    for n, received_doc in enumerate(received):
        document = json.loads(received_doc.body)
        assert compiled.first_error(document) is None, f"document {n}"
        if n % sample_every == 0:
            events = document["epcisBody"]["eventList"]
            sample = [events[0], events[len(events) // 2], events[-1]]
            partial = {**document, "epcisBody": {"eventList": sample}}
            errors = [e.message for e in reference.iter_errors(partial)]
            assert errors == [], f"document {n}: {errors[:3]}"
            ids = [e["eventID"] for e in sample]
            assert gs1_tool_event_ids(partial) == ids, f"document {n}: the GS1 tool disagrees"
    return len(received)


def gs1_tool_event_ids(document: dict[str, Any]) -> list[str]:
    """The eventIDs the GS1 reference tool (PyPI epcis-event-hash-generator) computes for a
    document, as if it were run on that document alone.

    The tool keeps the prefixes of every document it has read in a module global; it is reset
    so that no document profits from a prefix another one declared.
    """
    json_to_py._namespaces = {}  # the tool's per-run state
    events = json_to_py.event_list_from_epcis_document_json(json.loads(json.dumps(document)))
    return list(hash_generator.epcis_hashes_from_events(events))


def check_event_ids(stored: list[StoredEvent]) -> None:
    """DW4: every stored event's eventID is its EPCIS event hash (recomputed with linectl)."""
    for event in stored:
        body = {k: v for k, v in event.event.items() if k != "eventID"}
        assert event.event_id == event.event["eventID"] == event_hash(body, event.context), (
            f"event #{event.seq}"
        )
