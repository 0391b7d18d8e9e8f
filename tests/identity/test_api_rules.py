"""The rules of issue 10 through the control API, where the CLI tests have them too: QA cannot
release a batch they closed; what the API does is attributed to the authenticated user (never to
a name the client sends); logging in through the API locks the account after N failures."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest

from linectl.config import ControlSection, IdentitySection
from linectl.identity import Identity
from linectl.ledger import Ledger
from linectl.service.api import ControlApi, start_control_api
from tests.aggregation.conftest import LINE
from tests.identity.test_release import audit_rows, bearer, closed_batch
from tests.people import People
from tests.service.standin_line import EXECUTE, StandInLine


@pytest.fixture
def people(tmp_path: Path) -> People:
    people = People(tmp_path / "line.db")
    people.add("sv.sam", "supervisor", "Sam Supervisor")
    people.add("qa.quinn", "qa", "Quinn Quality")
    people.add("mes", "machine")
    return people


@pytest.fixture
def line() -> StandInLine:
    return StandInLine(batch="B1", state=EXECUTE)


@pytest.fixture
async def api(people: People, line: StandInLine) -> AsyncIterator[ControlApi]:
    with Ledger(people.path) as ledger:
        served = await start_control_api(
            line,
            ControlSection().model_copy(update={"port": 0}),
            identity=Identity(ledger, IdentitySection()),
            line=LINE,
        )
        yield served
        await served.close()


async def test_through_the_api_qa_cannot_release_a_batch_they_closed(
    api: ControlApi,
    people: People,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    closed_batch(monkeypatch, capsys, people, "B2")  # sam closes (and signs) B2
    with people.identity() as identity:
        identity.set_role(people.admin, "sv.sam", "qa")  # ... then moves to QA
    sam = people.session("sv.sam")
    body = {"signature": {"password": people.passwords["sv.sam"], "meaning": "released"}}
    async with (
        aiohttp.ClientSession() as http,
        http.post(f"{api.url}/v1/batches/B2/release", json=body, headers=bearer(sam)) as r,
    ):
        problem = await r.json(content_type=None)
    assert r.status == 403, problem
    assert "sv.sam started or closed batch B2" in problem["detail"]
    assert "second person" in problem["detail"]
    with Ledger(people.path) as ledger, ledger.identity.read() as rows:
        assert rows.signatures("batch.release", "B2") == []
    refused = [(a, json.loads(after)) for c, a, after in audit_rows(people.path) if c == "refused"]
    assert refused and refused[-1][0] == "sv.sam"


async def test_the_api_attributes_each_command_to_the_authenticated_user_not_a_claimed_one(
    api: ControlApi, people: People, line: StandInLine
) -> None:
    sam, mes = people.session("sv.sam"), people.token("mes")
    claimed = {"X-Linectl-User": "mallory"}  # the old header: ignored
    url = f"{api.url}/v1/commands"
    async with aiohttp.ClientSession() as http:
        async with http.post(
            url, json={"command": "hold", "reason": "jam"}, headers=bearer(mes) | claimed
        ) as r:
            assert r.status == 200 and (await r.json())["user"] == "mes"
        async with http.post(url, json={"command": "unhold"}, headers=bearer(sam) | claimed) as r:
            assert r.status == 200 and (await r.json())["user"] == "sv.sam"
        signed = {"command": "close-batch", "signature": {"password": people.passwords["sv.sam"]}}
        async with http.post(url, json=signed, headers=bearer(sam) | claimed) as r:
            answer = await r.json()
            assert r.status == 200, answer
        quinn = people.session("qa.quinn")  # QA may not run the line: refused, and audited
        async with http.post(url, json={"command": "start"}, headers=bearer(quinn)) as r:
            assert r.status == 403
    assert [(c.command.value, c.user) for c in line.calls] == [
        ("hold", "mes"),
        ("unhold", "sv.sam"),
        ("close-batch", "sv.sam"),
    ]
    assert answer["signature"]["user"] == "sv.sam" and answer["signature"]["by"] == "Sam Supervisor"
    rows = audit_rows(people.path)
    actors = {a for _, a, _ in rows}
    assert "mallory" not in actors
    assert ("batch.close.signed", "sv.sam") in {(c, a) for c, a, _ in rows}
    refused = [(a, json.loads(after)["command"]) for c, a, after in rows if c == "refused"]
    assert refused == [("qa.quinn", "line.run")]


async def test_logging_in_through_the_api_locks_the_account_after_five_failures(
    api: ControlApi, people: People
) -> None:
    front_end = people.token("mes")  # the HMI logs people in with its own machine token
    url = f"{api.url}/v1/sessions"
    async with aiohttp.ClientSession() as http:
        for attempt in range(5):
            body = {"user": "qa.quinn", "password": f"wrong-{attempt}-password"}
            async with http.post(url, json=body, headers=bearer(front_end)) as r:
                assert r.status == 401
                assert (await r.json(content_type=None))["reason"] == "wrong-password"
        body = {"user": "qa.quinn", "password": people.passwords["qa.quinn"]}
        async with http.post(url, json=body, headers=bearer(front_end)) as r:
            problem = await r.json(content_type=None)
    assert r.status == 401 and problem["reason"] == "locked"
    assert "locked after 5 failed attempts" in problem["detail"]
    failed = [a for c, a, _ in audit_rows(people.path) if c == "login.failed"]
    assert failed == ["qa.quinn"] * 6
