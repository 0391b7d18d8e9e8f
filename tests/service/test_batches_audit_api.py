"""The control API's work orders, audit trail and alarm acknowledgements, over a real socket with
users of a real ledger: who may create a batch or read the trail, what a bad field says, and an
acknowledgement recorded in the audit trail under the user who made it."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from linectl.config import ControlSection, IdentitySection, parse_config
from linectl.identity import Identity
from linectl.ledger import Ledger
from linectl.ledger.identity_rows import find_audit
from linectl.service.api import ControlApi, start_control_api
from tests.people import People
from tests.service.standin_line import StandInLine

GTIN = "09506000134352"
ORDER = {
    "batch": "B-HMI-1",
    "gtin": GTIN,
    "lot": "L2026A",
    "expiry": "271231",
    "quantity": 1000,
    "market": "DE",
    "materials": {"carton": "C-77", "leaflet": "PIL-3"},
    "reason": "planned",
}


@pytest.fixture
def people(tmp_path: Path) -> People:
    people = People(tmp_path / "line.db")
    people.add("sv.sam", "supervisor", "Sam Supervisor")
    people.add("op.olga", "operator", "Olga Operator")
    people.add("qa.quinn", "qa", "Quinn QA")
    return people


@pytest.fixture
def tokens(people: People) -> dict[str, str]:
    return {name: people.session(name) for name in ("sv.sam", "op.olga", "qa.quinn")}


@pytest.fixture
def line() -> StandInLine:
    return StandInLine()


@pytest.fixture
def identity(people: People) -> Iterator[Identity]:
    with Ledger(people.path) as ledger:
        yield Identity(ledger, IdentitySection())


@pytest.fixture
async def api(line: StandInLine, identity: Identity) -> AsyncIterator[ControlApi]:
    served = await start_control_api(
        line, ControlSection().model_copy(update={"port": 0}), identity=identity
    )
    yield served
    await served.close()


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


async def call(
    http: aiohttp.ClientSession,
    api: ControlApi,
    token: str,
    method: str,
    path: str,
    body: Any = None,
) -> tuple[int, Any]:
    headers = {"Authorization": f"Bearer {token}"}
    async with http.request(method, api.url + path, json=body, headers=headers) as r:
        return r.status, await r.json(content_type=None)


async def test_a_supervisor_creates_a_work_order_with_its_materials_and_it_is_listed(
    api: ControlApi, http: aiohttp.ClientSession, tokens: dict[str, str], people: People
) -> None:
    status, made = await call(http, api, tokens["sv.sam"], "POST", "/v1/batches", ORDER)
    assert status == 201, made
    assert made["materials"] == ORDER["materials"] and made["status"] == "created"
    status, listed = await call(http, api, tokens["op.olga"], "GET", "/v1/batches")
    assert status == 200
    assert [(b["batch"], b["lot"], b["materials"]) for b in listed["batches"]] == [
        ("B-HMI-1", "L2026A", {"carton": "C-77", "leaflet": "PIL-3"})
    ]
    status, products = await call(http, api, tokens["op.olga"], "GET", "/v1/products")
    assert products["products"] == [
        {
            "gtin": GTIN,
            "market": "DE",
            "materials": ["carton", "leaflet"],
            "last_batch": "B-HMI-1",
            "quantity": 1000,
        }
    ]
    with Ledger(people.path) as ledger, ledger.identity.read() as rows:
        (row,) = find_audit(rows, command="work_order.create")
    assert (row.actor, row.reason) == ("sv.sam", "planned")


async def test_an_operator_may_not_create_a_work_order(
    api: ControlApi, http: aiohttp.ClientSession, tokens: dict[str, str]
) -> None:
    status, problem = await call(http, api, tokens["op.olga"], "POST", "/v1/batches", ORDER)
    assert status == 403 and "create a work order" in problem["detail"]
    status, listed = await call(http, api, tokens["op.olga"], "GET", "/v1/batches")
    assert listed["batches"] == []


@pytest.mark.parametrize(
    ("change", "field", "says"),
    [
        ({"gtin": "09506000134353"}, "gtin", "check digit"),
        ({"expiry": "271331"}, "expiry", "expiry"),
        ({"lot": "L" * 21}, "lot", "longer than 20"),
        ({"quantity": "many"}, "quantity", "whole number"),
        ({"colour": "red"}, "colour", "unknown field"),
    ],
    ids=["check-digit", "month-13", "long-lot", "quantity-text", "unknown-field"],
)
async def test_a_bad_work_order_field_is_named(
    api: ControlApi,
    http: aiohttp.ClientSession,
    tokens: dict[str, str],
    change: dict[str, Any],
    field: str,
    says: str,
) -> None:
    status, problem = await call(http, api, tokens["sv.sam"], "POST", "/v1/batches", ORDER | change)
    assert status == 400, problem
    assert problem["field"] == field and says in problem["detail"].lower()


async def test_a_second_work_order_with_the_same_batch_is_refused(
    api: ControlApi, http: aiohttp.ClientSession, tokens: dict[str, str]
) -> None:
    assert (await call(http, api, tokens["sv.sam"], "POST", "/v1/batches", ORDER))[0] == 201
    status, problem = await call(http, api, tokens["sv.sam"], "POST", "/v1/batches", ORDER)
    assert status == 409 and "exists already" in problem["detail"]


async def test_an_alarm_acknowledgement_is_audited_under_the_user_with_the_comment(
    api: ControlApi, http: aiohttp.ClientSession, tokens: dict[str, str], line: StandInLine
) -> None:
    since = "2026-12-04T10:00:00.000Z"
    line.active_alarms.append(
        {"code": "pool-low", "message": "pool low", "since": since, "holds": False}
    )
    body = {"comment": "refill ordered"}
    status, ack = await call(
        http, api, tokens["op.olga"], "POST", "/v1/alarms/pool-low/acknowledge", body
    )
    assert status == 201, ack
    assert (ack["user"], ack["comment"], ack["since"]) == ("op.olga", "refill ordered", since)
    status, alarms = await call(http, api, tokens["qa.quinn"], "GET", "/v1/alarms")
    (active,) = alarms["alarms"]
    assert active["acknowledged"]["user"] == "op.olga"
    assert alarms["acknowledgements"][0]["comment"] == "refill ordered"
    status, trail = await call(http, api, tokens["sv.sam"], "GET", "/v1/audit?user=op.olga")
    newest = trail["entries"][0]
    assert (newest["command"], newest["reason"]) == ("alarm.acknowledge", "refill ordered")


async def test_acknowledging_needs_a_comment_and_an_active_alarm_and_the_right_role(
    api: ControlApi, http: aiohttp.ClientSession, tokens: dict[str, str], line: StandInLine
) -> None:
    path = "/v1/alarms/pool-low/acknowledge"
    status, problem = await call(http, api, tokens["op.olga"], "POST", path, {"comment": "x"})
    assert status == 409 and "not active" in problem["detail"]
    line.active_alarms.append({"code": "pool-low", "message": "low", "since": "t", "holds": False})
    status, problem = await call(http, api, tokens["op.olga"], "POST", path, {"comment": " "})
    assert status == 400 and problem["field"] == "comment"
    status, problem = await call(http, api, tokens["qa.quinn"], "POST", path, {"comment": "ok"})
    assert status == 403  # QA watches the line but does not run it


async def test_the_audit_trail_is_for_supervisor_qa_and_admin_and_filters_by_batch_and_user(
    api: ControlApi, http: aiohttp.ClientSession, tokens: dict[str, str]
) -> None:
    await call(http, api, tokens["sv.sam"], "POST", "/v1/batches", ORDER)
    await call(http, api, tokens["sv.sam"], "POST", "/v1/batches", ORDER | {"batch": "B-2"})
    status, problem = await call(http, api, tokens["op.olga"], "GET", "/v1/audit")
    assert status == 403 and "audit trail" in problem["detail"]
    status, trail = await call(http, api, tokens["qa.quinn"], "GET", "/v1/audit?batch=B-2")
    assert status == 200
    assert [(e["command"], e["after"]["batch"]) for e in trail["entries"]] == [
        ("work_order.create", "B-2")
    ]
    status, trail = await call(http, api, tokens["qa.quinn"], "GET", "/v1/audit?user=sv.sam")
    batches = [e["after"]["batch"] for e in trail["entries"] if e["command"] == "work_order.create"]
    assert batches == ["B-2", "B-HMI-1"]  # newest first
    status, problem = await call(http, api, tokens["qa.quinn"], "GET", "/v1/audit?limit=0")
    assert status == 400 and problem["field"] == "limit"


@pytest.fixture
async def rework_api(
    line: StandInLine, identity: Identity, tmp_path: Path
) -> AsyncIterator[ControlApi]:
    section = parse_config(
        {
            "line": {"id": "l1", "read_point": "urn:epc:id:sgln:0950600.01343.1",
                     "biz_location": "urn:epc:id:sgln:0950600.01343.0",
                     "company_prefix_length": 7},
            "ledger": {"path": "line.db"},
        },
        tmp_path / "line.toml",
    ).line  # fmt: skip
    served = await start_control_api(
        line, ControlSection().model_copy(update={"port": 0}), identity=identity, line=section
    )
    yield served
    await served.close()


async def test_rework_is_signed_by_a_role_with_rework_and_a_bad_container_is_named(
    rework_api: ControlApi, http: aiohttp.ClientSession, tokens: dict[str, str], people: People
) -> None:
    sscc = "009506000100000017"
    body = {"action": "reopen", "sscc": sscc, "reason": "wrong count"}
    status, problem = await call(http, rework_api, tokens["op.olga"], "POST", "/v1/rework", body)
    assert status == 403 and "rework" in problem["detail"]
    status, problem = await call(http, rework_api, tokens["sv.sam"], "POST", "/v1/rework", body)
    assert status == 400 and problem["field"] == "signature"
    wrong = body | {"signature": {"password": "not-his", "meaning": "performed"}}
    status, problem = await call(http, rework_api, tokens["sv.sam"], "POST", "/v1/rework", wrong)
    assert status == 403
    signed = body | {"signature": {"password": people.passwords["sv.sam"], "meaning": "performed"}}
    status, problem = await call(http, rework_api, tokens["sv.sam"], "POST", "/v1/rework", signed)
    assert status == 409 and sscc in problem["detail"], problem
    replace = signed | {"action": "replace", "serial": "S1"}
    status, problem = await call(http, rework_api, tokens["sv.sam"], "POST", "/v1/rework", replace)
    assert status == 400 and problem["field"] == "new_serial"
    status, view = await call(http, rework_api, tokens["op.olga"], "GET", "/v1/aggregation")
    assert status == 200 and view == {"packing": None, "labels": []}
