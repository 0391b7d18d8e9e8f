"""EPCIS Event Hash ID: the published test vectors, and the invariances the algorithm promises."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from standards.epcis.hashing import (
    EventHashError,
    document_hashes,
    document_prehashes,
    event_hash,
    hash_uri,
    prehash,
)
from standards.gs1.epc import sgln_dl, sgln_urn, sgtin_dl, sgtin_urn
from tests.conftest import standards_root

_HASH_DIR = standards_root() / "epcis-hash"
EXAMPLES = sorted(p.stem for p in (_HASH_DIR / "examples").glob("*.jsonld"))
WITH_PREHASHES = [n for n in EXAMPLES if (_HASH_DIR / "examples" / f"{n}.prehashes").exists()]
EXPECTED_EQUAL = sorted(p.name for p in (_HASH_DIR / "expected_equal").glob("*.json"))


def _lines(path: Path) -> list[str]:
    return [line for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def _document(standards: Path, name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(
        (standards / "epcis-hash" / "examples" / f"{name}.jsonld").read_text(encoding="utf-8")
    )
    return data


def test_the_vector_set_is_the_one_expected() -> None:
    assert len(EXAMPLES) >= 11
    assert "epcisDocWithAllGS1Keys" in EXAMPLES
    assert "TimeStampRoundOff" in WITH_PREHASHES
    assert EXPECTED_EQUAL


@pytest.mark.parametrize("name", EXAMPLES)
def test_hashes_equal_the_published_vector(standards: Path, name: str) -> None:
    expected = _lines(standards / "epcis-hash" / "examples" / f"{name}.hashes")
    assert document_hashes(_document(standards, name)) == expected


@pytest.mark.parametrize("name", WITH_PREHASHES)
def test_prehash_strings_equal_the_published_vector(standards: Path, name: str) -> None:
    expected = _lines(standards / "epcis-hash" / "examples" / f"{name}.prehashes")
    got = document_prehashes(_document(standards, name))
    assert len(got) == len(expected)
    for index, (mine, theirs) in enumerate(zip(got, expected, strict=True)):
        assert mine == theirs, f"event {index} of {name}"


@pytest.mark.parametrize("name", EXPECTED_EQUAL)
def test_different_representations_of_one_event_hash_equal(standards: Path, name: str) -> None:
    document = json.loads((standards / "epcis-hash" / "expected_equal" / name).read_text())
    hashes = document_hashes(document)
    assert len(hashes) >= 2
    assert len(set(hashes)) == 1


def test_hash_uri_is_an_rfc6920_sha256_name_with_the_cbv_version() -> None:
    uri = hash_uri("eventType=ObjectEvent")
    assert uri.startswith("ni:///sha-256;") and uri.endswith("?ver=CBV2.0")
    assert len(uri.split(";")[1].split("?")[0]) == 64


# -- invariances on one small event ---------------------------------------------------------

CONTEXT: list[Any] = [
    "https://ref.gs1.org/standards/epcis/2.0.0/epcis-context.jsonld",
    {"ex": "https://ns.example.com/epcis/"},
]
EVENT: dict[str, Any] = {
    "type": "ObjectEvent",
    "eventTime": "2024-05-06T10:11:12.345+02:00",
    "eventTimeZoneOffset": "+02:00",
    "epcList": ["urn:epc:id:sgtin:4012345.011111.A%2F1", "urn:epc:id:sgtin:4012345.011111.B"],
    "action": "OBSERVE",
    "bizStep": "shipping",
    "disposition": "in_transit",
    "readPoint": {"id": "urn:epc:id:sgln:4012345.00005.0"},
    "ilmd": {"cbvmda:lotNumber": "LOT-7"},
    "ex:note": {"ex:a": "1", "ex:b": ["y", "x"]},
}


def test_event_id_record_time_and_error_declaration_do_not_take_part() -> None:
    other = copy.deepcopy(EVENT) | {
        "eventID": "urn:uuid:374d95fc-9457-4a51-bd6a-0bba133845a8",
        "recordTime": "2024-05-06T10:11:13Z",
        "errorDeclaration": {"declarationTime": "2024-05-07T00:00:00Z", "reason": "did_not_occur"},
    }
    assert event_hash(other, CONTEXT) == event_hash(EVENT, CONTEXT)


def test_key_order_and_list_order_do_not_change_the_hash() -> None:
    shuffled = {k: EVENT[k] for k in reversed(list(EVENT))}
    shuffled["epcList"] = list(reversed(EVENT["epcList"]))
    shuffled["ex:note"] = {"ex:b": ["x", "y"], "ex:a": "1"}
    assert event_hash(shuffled, CONTEXT) == event_hash(EVENT, CONTEXT)


def test_the_same_instant_in_another_offset_hashes_equal() -> None:
    utc = copy.deepcopy(EVENT) | {"eventTime": "2024-05-06T08:11:12.3449Z"}
    assert event_hash(utc, CONTEXT) == event_hash(EVENT, CONTEXT)


def test_a_fourth_fraction_digit_of_five_rounds_up_across_the_second() -> None:
    event = copy.deepcopy(EVENT) | {"eventTime": "2024-12-31T23:59:59.9995Z"}
    assert "eventTime=2025-01-01T00:00:00.000Z" in prehash(event, CONTEXT)
    event["eventTime"] = "2024-12-31T23:59:59.9994999Z"
    assert "eventTime=2024-12-31T23:59:59.999Z" in prehash(event, CONTEXT)


def test_epc_urn_and_digital_link_forms_hash_equal() -> None:
    dl = copy.deepcopy(EVENT)
    dl["epcList"] = [
        "https://id.gs1.org/01/04012345111118/21/A%2F1",
        "https://example.com/gtin/04012345111118/ser/B?linkType=all",
    ]
    dl["readPoint"] = {"id": "https://id.gs1.org/414/4012345000054"}
    assert event_hash(dl, CONTEXT) == event_hash(EVENT, CONTEXT)


CSET82 = "!\"%&'()*+,-./0123456789:;<=>?ABCDEFGHIJKLMNOPQRSTUVWXYZ_abcdefghijklmnopqrstuvwxyz"


@given(
    st.text(alphabet=CSET82, min_size=1, max_size=20),
    st.text(alphabet=CSET82, min_size=1, max_size=20),
    st.integers(min_value=6, max_value=12),
)
def test_an_event_hashes_the_same_with_urns_and_with_digital_links(
    serial: str, extension: str, cp_len: int
) -> None:
    gtin, gln = "04012345111118", "4012345000054"
    base = {"type": "ObjectEvent", "eventTime": "2024-01-01T00:00:00Z", "action": "OBSERVE"}
    urn = base | {
        "epcList": [sgtin_urn(gtin, serial, cp_len)],
        "readPoint": {"id": sgln_urn(gln, extension, cp_len)},
    }
    dl = base | {
        "epcList": [sgtin_dl(gtin, serial, domain="https://brand.example")],
        "readPoint": {"id": sgln_dl(gln, extension)},
    }
    assert prehash(urn) == prehash(dl)
    assert f"epc=https://id.gs1.org/01/{gtin}/21/" in prehash(urn)


def test_extension_names_hash_by_namespace_not_by_prefix() -> None:
    renamed = {k: v for k, v in EVENT.items() if k != "ex:note"}
    renamed["other:note"] = {"other:a": "1", "other:b": ["y", "x"]}
    same_ns = [CONTEXT[0], {"other": "https://ns.example.com/epcis/"}]
    other_ns = [CONTEXT[0], {"other": "https://ns.example.org/else/"}]
    assert event_hash(renamed, same_ns) == event_hash(EVENT, CONTEXT)
    assert event_hash(renamed, other_ns) != event_hash(EVENT, CONTEXT)


@pytest.mark.parametrize(
    ("path", "value"),
    [
        (
            ("epcList",),
            ["urn:epc:id:sgtin:4012345.011111.A%2F2", "urn:epc:id:sgtin:4012345.011111.B"],
        ),
        (("bizStep",), "receiving"),
        (("ilmd", "cbvmda:lotNumber"), "LOT-8"),
        (("ex:note", "ex:a"), "2"),
        (("eventTime",), "2024-05-06T10:11:12.346+02:00"),
    ],
)
def test_any_changed_value_changes_the_hash(path: tuple[str, ...], value: Any) -> None:
    changed = copy.deepcopy(EVENT)
    target = changed
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    assert event_hash(changed, CONTEXT) != event_hash(EVENT, CONTEXT)


def test_numbers_lose_trailing_zeros_whatever_their_notation() -> None:
    base = {"type": "ObjectEvent", "eventTime": "2024-01-01T00:00:00Z", "action": "OBSERVE"}
    epc_class = "urn:epc:idpat:sgtin:4012345.011111.*"
    texts = [
        prehash(base | {"quantityList": [{"epcClass": epc_class, "quantity": q}]})
        for q in (452, 452.0, "452.000", "4.52e2")
    ]
    assert len(set(texts)) == 1
    assert "quantity=452" in texts[0]


def test_a_timestamp_without_offset_is_rejected_naming_the_field() -> None:
    event = copy.deepcopy(EVENT) | {"eventTime": "2024-05-06T10:11:12"}
    with pytest.raises(EventHashError, match="eventTime"):
        event_hash(event, CONTEXT)


def test_an_event_without_type_is_rejected() -> None:
    with pytest.raises(EventHashError, match="type"):
        event_hash({k: v for k, v in EVENT.items() if k != "type"}, CONTEXT)
