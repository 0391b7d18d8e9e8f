"""The simulated EPCIS repository over HTTP: discovery, capture, jobs, queries, faults, admin."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from simulators.central import CentralSimulator
from standards.epcis.document import epcis_document
from standards.epcis.events import packing_event
from tests.simulators.central.harness import central_config
from tests.upstream.epcis_helpers import READ_POINT, START, commissioning_events

JSON = {"Content-Type": "application/json", "GS1-EPCIS-Version": "2.0.0"}


@pytest.fixture
async def sim(tmp_path: Path, standards: Path) -> AsyncIterator[CentralSimulator]:
    config = central_config(tmp_path, standards, capture_limit=50, file_size_limit=60_000)
    async with CentralSimulator(config, serve_opcua=False) as central:
        yield central


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10)) as session:
        yield session


def _document(events: list[dict[str, Any]]) -> bytes:
    return json.dumps(epcis_document(events, creation_date=START)).encode()


async def _capture(
    sim: CentralSimulator, http: aiohttp.ClientSession, body: bytes
) -> dict[str, Any]:
    async with http.post(f"{sim.epcis_url}/capture", data=body, headers=JSON) as response:
        assert response.status == 202, await response.text()
        location = response.headers["Location"]
    assert sim.epcis is not None
    await sim.epcis.wait_idle()
    async with http.get(sim.epcis_url + location) as response:
        assert response.status == 200
        job: dict[str, Any] = await response.json()
    return job


async def test_options_announces_versions_and_capture_limits(
    sim: CentralSimulator, http: aiohttp.ClientSession
) -> None:
    async with http.options(f"{sim.epcis_url}/capture") as response:
        assert response.status == 204
        headers = response.headers
    assert headers["GS1-EPCIS-Version"] == "2.0.0"
    assert headers["GS1-EPCIS-Max"] == "2.0.0" and headers["GS1-CBV-Version"] == "2.0.0"
    assert headers["GS1-EPCIS-Capture-Limit"] == "50"
    assert headers["GS1-EPCIS-Capture-File-Size-Limit"] == "60000"
    assert headers["GS1-Capture-Error-Behaviour"] == "all"
    assert set(headers["Allow"].replace(" ", "").split(",")) == {"OPTIONS", "POST", "GET"}


async def test_a_captured_document_becomes_a_successful_job_and_queryable_events(
    sim: CentralSimulator, http: aiohttp.ClientSession
) -> None:
    events = list(commissioning_events(3, batch="LOT-Q", first_serial=10))
    case = "urn:epc:id:sscc:4012345.3000000101"
    packing = packing_event(
        case,
        [e["epcList"][0] for e in events],
        event_time=START.replace(hour=7),
        read_point=READ_POINT,
    )
    job = await _capture(sim, http, _document([*events, packing]))
    assert job["running"] is False and job["success"] is True and job["errors"] == []
    assert job["captureErrorBehaviour"] == "rollback"

    async def query(**params: str) -> list[str]:
        async with http.get(f"{sim.epcis_url}/events", params=params) as response:
            assert response.status == 200, await response.text()
            document = await response.json(content_type=None)
        assert document["type"] == "EPCISQueryDocument"
        return [
            e["eventID"] for e in document["epcisBody"]["queryResults"]["resultsBody"]["eventList"]
        ]

    ids = [e["eventID"] for e in events]
    assert await query(eventType="ObjectEvent") == ids
    assert await query(EQ_bizStep="packing") == [packing["eventID"]]
    assert await query(MATCH_epc=events[1]["epcList"][0]) == [ids[1], packing["eventID"]]
    assert (
        await query(GE_eventTime="2026-03-02T06:00:00.110Z", LT_eventTime="2026-03-02T07:00:00Z")
        == ids[1:]
    )
    assert await query(EQ_bizStep="https://ref.gs1.org/cbv/BizStep-commissioning") == ids


async def test_query_pages_follow_the_link_header(
    sim: CentralSimulator, http: aiohttp.ClientSession
) -> None:
    events = list(commissioning_events(5, batch="LOT-P", first_serial=20))
    await _capture(sim, http, _document(events))
    url: str | None = f"{sim.epcis_url}/events?perPage=2"
    seen: list[str] = []
    while url:
        async with http.get(url) as response:
            document = await response.json(content_type=None)
            link = response.headers.get("Link")
        seen += [
            e["eventID"] for e in document["epcisBody"]["queryResults"]["resultsBody"]["eventList"]
        ]
        url = sim.epcis_url + link.split(">")[0].lstrip("<") if link else None
    assert seen == [e["eventID"] for e in events]


async def test_an_event_captured_twice_is_stored_once(
    sim: CentralSimulator, http: aiohttp.ClientSession
) -> None:
    events = list(commissioning_events(4, batch="LOT-D", first_serial=30))
    body = _document(events)
    assert (await _capture(sim, http, body))["success"] is True
    assert (await _capture(sim, http, body))["success"] is True
    assert sim.store is not None and sim.store.count() == 4


@pytest.mark.parametrize(
    ("body", "where"),
    [
        (b'{"type": "EPCISDocument", ', "not JSON at byte"),
        (b"[]", "a JSON object"),
    ],
)
async def test_a_body_that_is_not_an_epcis_document_is_a_400_problem(
    sim: CentralSimulator, http: aiohttp.ClientSession, body: bytes, where: str
) -> None:
    async with http.post(f"{sim.epcis_url}/capture", data=body, headers=JSON) as response:
        assert response.status == 400
        assert response.content_type == "application/problem+json"
        problem = await response.json(content_type=None)
    assert problem["type"] == "epcisException:ValidationException" and problem["status"] == 400
    assert where in problem["detail"]


async def test_a_schema_violation_names_the_event_and_field(
    sim: CentralSimulator, http: aiohttp.ClientSession
) -> None:
    events = list(commissioning_events(2, batch="LOT-S", first_serial=40))
    events[1]["action"] = "SHRED"
    async with http.post(f"{sim.epcis_url}/capture", data=_document(events), headers=JSON) as r:
        assert r.status == 400
        problem = await r.json(content_type=None)
    assert problem["detail"].startswith("/epcisBody/eventList/1")
    assert sim.store is not None and sim.store.count() == 0


async def test_too_many_events_or_bytes_is_a_413_with_the_limits(
    sim: CentralSimulator, http: aiohttp.ClientSession
) -> None:
    many = _document(list(commissioning_events(51, batch="LOT-L", first_serial=50)))
    async with http.post(f"{sim.epcis_url}/capture", data=many, headers=JSON) as response:
        assert response.status == 413
        assert response.headers["GS1-EPCIS-Capture-Limit"] == "50"
        assert response.headers["GS1-EPCIS-Capture-File-Size-Limit"] == "60000"
        problem = await response.json(content_type=None)
    assert problem["type"] == "epcisException:CaptureLimitExceededException"
    big = b" " * 60_001
    async with http.post(f"{sim.epcis_url}/capture", data=big, headers=JSON) as response:
        assert response.status == 413


async def test_a_wrong_media_type_is_a_415(
    sim: CentralSimulator, http: aiohttp.ClientSession
) -> None:
    headers = {"Content-Type": "application/xml"}
    async with http.post(f"{sim.epcis_url}/capture", data=b"<x/>", headers=headers) as response:
        assert response.status == 415


async def test_an_unknown_job_or_query_parameter_is_a_problem(
    sim: CentralSimulator, http: aiohttp.ClientSession
) -> None:
    async with http.get(f"{sim.epcis_url}/capture/cj-nothing") as response:
        assert response.status == 404
    async with http.get(f"{sim.epcis_url}/events", params={"EQ_colour": "red"}) as response:
        assert response.status == 400
        assert "EQ_colour" in (await response.json(content_type=None))["detail"]


async def test_a_part_way_job_failure_stores_only_the_first_events(
    sim: CentralSimulator, http: aiohttp.ClientSession
) -> None:
    await sim.set_faults(fail_next_jobs=1, job_failure_keep=3)
    events = list(commissioning_events(10, batch="LOT-F", first_serial=60))
    job = await _capture(sim, http, _document(events))
    assert job["running"] is False and job["success"] is False
    assert "part-way" in job["errors"][0]["title"]
    assert sim.store is not None
    assert [s.event_id for s in sim.store.events()] == [e["eventID"] for e in events[:3]]


async def test_faults_are_switched_over_the_admin_endpoint(
    sim: CentralSimulator, http: aiohttp.ClientSession
) -> None:
    admin = f"{sim.admin_url}/admin/faults"
    async with http.post(admin, json={"epcis_down": True}) as response:
        assert response.status == 200
        assert (await response.json())["epcis_down"] is True
    with pytest.raises(aiohttp.ClientConnectionError):
        async with http.options(f"{sim.epcis_url}/capture"):
            pass
    async with http.post(admin, json={"epcis_down": False, "error_rate": 1.0}) as response:
        assert response.status == 200
    async with http.options(f"{sim.epcis_url}/capture") as response:
        assert response.status == 500
        assert (await response.json(content_type=None))["type"].endswith("ImplementationException")
    async with http.post(admin, json={"error_rate": 0.0, "capture_limit": 7}) as response:
        settings = await response.json()
    assert settings["capture_limit"] == 7 and settings["error_rate"] == 0.0
    async with http.options(f"{sim.epcis_url}/capture") as response:
        assert response.headers["GS1-EPCIS-Capture-Limit"] == "7"


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"error_rate": 1.5}, "probability"),
        ({"colour": "red"}, "unknown fault"),
        ({"epcis_down": "yes"}, "true or false"),
        ({"capture_limit": 0}, "at least 1"),
    ],
)
async def test_the_admin_endpoint_refuses_nonsense(
    sim: CentralSimulator, http: aiohttp.ClientSession, change: dict[str, Any], message: str
) -> None:
    before = sim.settings()
    async with http.post(f"{sim.admin_url}/admin/faults", json=change) as response:
        assert response.status == 400
        assert message in (await response.json(content_type=None))["detail"]
    assert sim.settings() == before


async def test_a_bearer_token_is_required_when_configured(
    tmp_path: Path, standards: Path, http: aiohttp.ClientSession
) -> None:
    config = central_config(tmp_path, standards, bearer_token="t0ken")
    async with CentralSimulator(config, serve_opcua=False, admin=False) as central:
        async with http.options(f"{central.epcis_url}/capture") as response:
            assert response.status == 401
        headers = {"Authorization": "Bearer t0ken"}
        async with http.options(f"{central.epcis_url}/capture", headers=headers) as response:
            assert response.status == 204


async def test_a_slow_repository_answers_late(
    sim: CentralSimulator, http: aiohttp.ClientSession
) -> None:
    await sim.set_faults(delay_s=0.2)
    loop = asyncio.get_running_loop()
    began = loop.time()
    async with http.options(f"{sim.epcis_url}/capture") as response:
        assert response.status == 204
    assert loop.time() - began >= 0.2
