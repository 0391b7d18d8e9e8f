"""The same rules through the CLI and the control API: lockout after N failed passwords, an idle
session ends, a revoked machine token is refused at once. Idle time is made by dating the
session's last use back in the ledger file (the clock of another process), never by waiting."""

from __future__ import annotations

import io
import sqlite3
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest

from linectl.cli import main
from linectl.config import ControlSection, IdentitySection
from linectl.identity import Identity
from linectl.identity.principal import secret_digest
from linectl.ledger import Ledger
from linectl.service.api import ControlApi, start_control_api
from tests.people import People
from tests.service.standin_line import StandInLine


@pytest.fixture
def people(tmp_path: Path) -> People:
    people = People(tmp_path / "line.db")
    people.add("sv.sam", "supervisor", "Sam Supervisor")
    people.add("mes", "machine")
    return people


@pytest.fixture
async def api(people: People) -> AsyncIterator[ControlApi]:
    with Ledger(people.path) as ledger:
        served = await start_control_api(
            StandInLine(),
            ControlSection().model_copy(update={"port": 0}),
            identity=Identity(ledger, IdentitySection()),
        )
        yield served
        await served.close()


def idle_for(people: People, token: str, minutes: int) -> None:
    """Date the session's last use ``minutes`` back, as if nobody had used it since."""
    conn = sqlite3.connect(people.path)
    try:
        conn.execute(
            "UPDATE sessions SET last_used_at = strftime('%Y-%m-%dT%H:%M:%fZ', 'now', ?) "
            "WHERE token_sha256 = ?",
            (f"-{minutes} minutes", secret_digest(token)),
        )
        conn.commit()
    finally:
        conn.close()


def cli(people: People, *argv: str, stdin: str = "") -> int:
    saved = sys.stdin
    sys.stdin = io.StringIO(stdin)
    try:
        return main(["--ledger", str(people.path), "--password-stdin", *argv])
    finally:
        sys.stdin = saved


def test_the_cli_locks_an_account_after_five_wrong_passwords(
    people: People, capsys: pytest.CaptureFixture[str]
) -> None:
    for attempt in range(5):
        assert cli(people, "login", "sv.sam", stdin=f"wrong-{attempt}-password\n") == 2
    assert "now locked for 15 min" in capsys.readouterr().err
    assert cli(people, "login", "sv.sam", stdin=people.passwords["sv.sam"] + "\n") == 2
    assert "locked after 5 failed attempts" in capsys.readouterr().err


def test_an_idle_cli_session_ends(people: People, capsys: pytest.CaptureFixture[str]) -> None:
    token = people.session("sv.sam")
    assert cli(people, "batch", "list") == 0
    idle_for(people, token, 16)
    assert cli(people, "batch", "list") == 2
    assert "expired after 15 min idle" in capsys.readouterr().err


def test_a_revoked_token_file_is_refused_by_the_cli_at_once(
    people: People, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    token_file = tmp_path / "mes.token"
    people.token("mes", token_file)
    assert cli(people, "--token-file", str(token_file), "batch", "list") == 0
    with people.identity() as identity:
        ((_, row),) = identity.tokens(people.admin, "mes")
        identity.revoke_token(people.admin, row.id)
    assert cli(people, "--token-file", str(token_file), "batch", "list") == 2
    assert "was revoked" in capsys.readouterr().err


async def test_the_api_refuses_an_idle_session_and_a_revoked_token_at_once(
    people: People, api: ControlApi
) -> None:
    session = people.session("sv.sam")
    token = people.token("mes")
    status_url = f"{api.url}/v1/status"
    async with aiohttp.ClientSession() as http:
        for bearer in (session, token):
            async with http.get(status_url, headers={"Authorization": f"Bearer {bearer}"}) as r:
                assert r.status == 200
        idle_for(people, session, 16)
        with people.identity() as identity:
            ((_, row),) = identity.tokens(people.admin, "mes")
            identity.revoke_token(people.admin, row.id)
        for bearer, reason in ((session, "session-idle"), (token, "token-revoked")):
            async with http.get(status_url, headers={"Authorization": f"Bearer {bearer}"}) as r:
                assert r.status == 401
                assert (await r.json(content_type=None))["reason"] == reason


async def test_wrong_signature_passwords_through_the_api_lock_the_account(
    people: People, api: ControlApi
) -> None:
    session = people.session("sv.sam")
    headers = {"Authorization": f"Bearer {session}"}
    url = f"{api.url}/v1/commands"
    async with aiohttp.ClientSession() as http:
        await http.post(url, json={"command": "start", "batch": "B1"}, headers=headers)
        for attempt in range(5):
            body = {"command": "close-batch", "signature": {"password": f"wrong-{attempt}"}}
            async with http.post(url, json=body, headers=headers) as r:
                assert r.status == 403
                assert (await r.json(content_type=None))["type"].endswith("wrong-password")
        body = {"command": "close-batch", "signature": {"password": people.passwords["sv.sam"]}}
        async with http.post(url, json=body, headers=headers) as r:
            problem = await r.json(content_type=None)
    assert r.status == 403 and "locked after 5 failed attempts" in problem["detail"]
