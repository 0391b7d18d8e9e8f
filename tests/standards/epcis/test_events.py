"""The six line events: schema-valid documents in both identifier forms, hash-identified."""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from referencing import Registry, Resource
from referencing.exceptions import NoSuchResource

from standards.epcis.document import epcis_document, mismatched_event_ids
from standards.epcis.events import (
    LINECTL_NS,
    BizTransaction,
    Event,
    EventBuildError,
    commissioning_event,
    decommissioning_event,
    destroying_event,
    packing_event,
    sample_end_of_life_event,
    sampling_event,
    unpacking_event,
)
from standards.epcis.hashing import event_hash
from standards.gs1.epc import IdentifierForm, format_sgln, format_sgtin, format_sscc

CP_LEN = 7
GTIN = "04012345111118"
GLN = "4012345000054"
SSCC = "340123451111111111"
WHEN = datetime(2026, 3, 14, 9, 26, 53, 589_793, tzinfo=timezone(timedelta(hours=1)))


# -- schema ---------------------------------------------------------------------------------


def _uri(value: object) -> bool:
    return (
        not isinstance(value, str)
        or re.fullmatch(r"[A-Za-z][A-Za-z0-9+.-]*:\S+", value) is not None
    )


def _date_time(value: object) -> bool:
    if not isinstance(value, str):
        return True
    pattern = r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)"
    return re.fullmatch(pattern, value) is not None


@pytest.fixture(scope="module")
def validator(standards: Path) -> jsonschema.Draft7Validator:
    """The EPCIS 2.0 JSON schema, every $ref resolved from its own directory, never the network."""
    schema_dir = standards / "epcis"
    schema = json.loads((schema_dir / "EPCIS-JSON-Schema.json").read_text(encoding="utf-8"))

    def retrieve(uri: str) -> Resource[Any]:
        local = schema_dir / uri.rsplit("/", 1)[-1]
        if not local.is_file():
            raise NoSuchResource(ref=uri)
        return Resource.from_contents(json.loads(local.read_text(encoding="utf-8")))

    registry: Registry[Any] = Registry(retrieve=retrieve).with_resource(
        schema["$id"], Resource.from_contents(schema)
    )
    # jsonschema checks "uri" and "date-time" only with optional packages; check them here.
    formats = jsonschema.FormatChecker()
    formats.checks("uri")(_uri)
    formats.checks("date-time")(_date_time)
    return jsonschema.Draft7Validator(schema, registry=registry, format_checker=formats)


def _errors(validator: jsonschema.Draft7Validator, document: dict[str, Any]) -> list[str]:
    return [f"{list(e.absolute_path)}: {e.message}" for e in validator.iter_errors(document)]


# -- the six kinds, in either identifier form -------------------------------------------------


def _ids(form: IdentifierForm) -> dict[str, Any]:
    units = [format_sgtin(GTIN, s, form, CP_LEN) for s in ("1001", "A&B/2", "x'y\"z?%")]
    return {
        "units": units,
        "case": format_sscc(SSCC, form, CP_LEN),
        "here": format_sgln(GLN, "0", form, CP_LEN),
        "line": format_sgln(GLN, "L1", form, CP_LEN),
    }


def _where(ids: dict[str, Any]) -> dict[str, Any]:
    return {"event_time": WHEN, "read_point": ids["line"], "biz_location": ids["here"]}


KINDS: dict[str, Callable[[dict[str, Any]], Event]] = {
    "commissioning": lambda ids: commissioning_event(
        ids["units"],
        lot="LOT-2026/03",
        expiry=date(2028, 2, 29),
        material_lots={"carton": "CT-88", "leaflet": "LF-1", "label roll": "LR-7"},
        biz_transactions=[BizTransaction("urn:epcglobal:cbv:bt:4012345000009:WO-17", "prodorder")],
        **_where(ids),
    ),
    "packing": lambda ids: packing_event(ids["case"], ids["units"], **_where(ids)),
    "unpacking": lambda ids: unpacking_event(ids["case"], ids["units"][:1], **_where(ids)),
    "decommissioning": lambda ids: decommissioning_event(ids["units"][:1], **_where(ids)),
    "sampling": lambda ids: sampling_event(ids["units"][1:2], **_where(ids)),
    "sample end of life": lambda ids: sample_end_of_life_event(ids["units"][1:2], **_where(ids)),
    "destroying": lambda ids: destroying_event(ids["units"][2:], **_where(ids)),
}
FORMS = list(IdentifierForm)


@pytest.mark.parametrize("form", FORMS)
@pytest.mark.parametrize("kind", list(KINDS))
def test_every_built_document_is_valid_epcis(
    validator: jsonschema.Draft7Validator, kind: str, form: IdentifierForm
) -> None:
    document = epcis_document([KINDS[kind](_ids(form))], creation_date=WHEN)
    assert _errors(validator, document) == []


@pytest.mark.parametrize("form", FORMS)
@pytest.mark.parametrize("kind", list(KINDS))
def test_event_id_is_the_recomputed_event_hash(kind: str, form: IdentifierForm) -> None:
    document = epcis_document([KINDS[kind](_ids(form))], creation_date=WHEN)
    event = document["epcisBody"]["eventList"][0]
    body = {k: v for k, v in event.items() if k != "eventID"}
    assert event["eventID"].startswith("ni:///sha-256;")
    assert event["eventID"] == event_hash(body, document["@context"])
    assert mismatched_event_ids(document) == []


@pytest.mark.parametrize("kind", list(KINDS))
def test_a_tampered_event_no_longer_matches_its_event_id(kind: str) -> None:
    event = KINDS[kind](_ids(IdentifierForm.EPC_URN))
    tampered = copy.deepcopy(event)
    tampered["eventTime"] = "2026-03-14T08:26:54.589Z"
    document = epcis_document([event, tampered], creation_date=WHEN)
    assert mismatched_event_ids(document) == [1]


@pytest.mark.parametrize("kind", list(KINDS))
def test_both_identifier_forms_give_the_same_event_id(kind: str) -> None:
    urn = KINDS[kind](_ids(IdentifierForm.EPC_URN))
    dl = KINDS[kind](_ids(IdentifierForm.DIGITAL_LINK))
    without_id = [{k: v for k, v in e.items() if k != "eventID"} for e in (urn, dl)]
    assert without_id[0] != without_id[1]
    assert urn["eventID"] == dl["eventID"]


def test_the_schema_check_does_reject_a_broken_event(
    validator: jsonschema.Draft7Validator,
) -> None:
    event = KINDS["packing"](_ids(IdentifierForm.EPC_URN))
    del event["action"]
    assert _errors(validator, epcis_document([event], creation_date=WHEN))


def test_commissioning_puts_lot_expiry_and_material_lots_in_ilmd() -> None:
    event = KINDS["commissioning"](_ids(IdentifierForm.EPC_URN))
    assert (event["action"], event["bizStep"], event["disposition"]) == (
        "ADD",
        "commissioning",
        "active",
    )
    ilmd = event["ilmd"]
    assert ilmd["cbvmda:lotNumber"] == "LOT-2026/03"
    assert ilmd["cbvmda:itemExpirationDate"] == "2028-02-29"
    lots = {m["linectl:material"]: m["linectl:lot"] for m in ilmd["linectl:packagingMaterialLots"]}
    assert lots == {"carton": "CT-88", "leaflet": "LF-1", "label roll": "LR-7"}


def test_documents_declare_inline_every_prefix_their_events_use() -> None:
    document = epcis_document([], creation_date=WHEN)
    inline = document["@context"][1]
    assert inline == {"linectl": LINECTL_NS, "cbvmda": "urn:epcglobal:cbv:mda:"}
    assert document["schemaVersion"] == "2.0"
    assert document["creationDate"] == "2026-03-14T08:26:53.589Z"


@pytest.mark.parametrize(
    ("kind", "expected"),
    [
        ("packing", ("AggregationEvent", "ADD", "packing", None)),
        ("unpacking", ("AggregationEvent", "DELETE", "unpacking", None)),
        ("decommissioning", ("ObjectEvent", "DELETE", "decommissioning", "inactive")),
        ("sampling", ("ObjectEvent", "OBSERVE", "sampling", "non_sellable_other")),
        ("sample end of life", ("ObjectEvent", "DELETE", "destroying", "destroyed")),
        ("destroying", ("ObjectEvent", "DELETE", "destroying", "destroyed")),
    ],
)
def test_each_kind_follows_the_design_mapping(kind: str, expected: tuple[Any, ...]) -> None:
    event = KINDS[kind](_ids(IdentifierForm.EPC_URN))
    got = (event["type"], event["action"], event["bizStep"], event.get("disposition"))
    assert got == expected


def test_event_time_is_utc_milliseconds_and_the_offset_comes_from_it() -> None:
    event = KINDS["sampling"](_ids(IdentifierForm.EPC_URN))
    assert event["eventTime"] == "2026-03-14T08:26:53.589Z"
    assert event["eventTimeZoneOffset"] == "+01:00"


def test_a_naive_event_time_is_rejected() -> None:
    ids = _ids(IdentifierForm.EPC_URN)
    with pytest.raises(EventBuildError, match="event_time"):
        destroying_event(ids["units"], event_time=datetime(2026, 1, 1), read_point=ids["line"])


def test_a_repeated_identifier_is_rejected_naming_its_position() -> None:
    ids = _ids(IdentifierForm.EPC_URN)
    units = [ids["units"][0], ids["units"][0]]
    with pytest.raises(EventBuildError, match=r"children\[1\]"):
        packing_event(ids["case"], units, event_time=WHEN, read_point=ids["line"])


def test_an_empty_epc_list_is_rejected() -> None:
    with pytest.raises(EventBuildError, match="epcs"):
        decommissioning_event([], event_time=datetime.now(UTC), read_point="urn:x:y")
