"""The control API over real sockets (TCP on 127.0.0.1 port 0, and a Unix socket), with users
from a real ledger: every request is authenticated to one of them and checked against the
permission matrix."""

from __future__ import annotations

import json
import socket
import stat
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from linectl.config import ControlSection, IdentitySection
from linectl.identity import Identity
from linectl.ledger import Ledger
from linectl.line.control import Command, LineControl
from linectl.service.api import (
    PROBLEM_JSON,
    ControlApi,
    ControlApiError,
    start_control_api,
)
from tests.people import People
from tests.service.standin_line import EXECUTE, HELD, IDLE, Call, StandInLine, captured_logs

TCP_ANY_PORT = ControlSection().model_copy(update={"port": 0})
TOKEN = ""  # qa.anna's session token (a supervisor): set by the module's accounts
AUTH: dict[str, str] = {}
TOKENS: dict[str, str] = {}  # user -> session or API token


@pytest.fixture(scope="module")
def people(tmp_path_factory: pytest.TempPathFactory) -> People:
    """A ledger with a supervisor, an operator, a QA user and an MES machine account."""
    people = People(tmp_path_factory.mktemp("api") / "line.db")
    people.add("qa.anna", "supervisor", "Anna Svensson")
    people.add("op.eve", "operator", "Eve Operator")
    people.add("qa.quinn", "qa", "Quinn QA")
    people.add("mes", "machine", "MES bridge")
    return people


@pytest.fixture(scope="module", autouse=True)
def accounts(people: People) -> Iterator[None]:
    global TOKEN
    TOKENS.update({name: people.session(name) for name in ("qa.anna", "op.eve", "qa.quinn")})
    TOKENS["mes"] = people.token("mes")
    TOKEN = TOKENS["qa.anna"]
    AUTH["Authorization"] = f"Bearer {TOKEN}"
    yield
    TOKENS.clear()
    AUTH.clear()


def auth(user: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {TOKENS[user]}"}


@pytest.fixture
def identity(people: People) -> Iterator[Identity]:
    with Ledger(people.path) as ledger:
        yield Identity(ledger, IdentitySection())


@pytest.fixture
def line() -> StandInLine:
    return StandInLine()


@pytest.fixture
async def api(line: StandInLine, identity: Identity) -> AsyncIterator[ControlApi]:
    served = await start_control_api(line, TCP_ANY_PORT, identity=identity)
    yield served
    await served.close()


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


async def post(
    http: aiohttp.ClientSession, api: ControlApi, body: Any, headers: dict[str, str] | None = None
) -> tuple[int, str, Any]:
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    async with http.post(f"{api.url}/v1/commands", data=data, headers=headers or AUTH) as r:
        return r.status, r.content_type, await r.json(content_type=None)


def test_the_stand_in_is_a_line_control() -> None:
    assert isinstance(StandInLine(), LineControl)


async def test_api_listens_on_localhost_with_the_bound_port(api: ControlApi) -> None:
    assert api.url.startswith("http://127.0.0.1:")
    assert int(api.url.rsplit(":", 1)[1]) > 0


@pytest.mark.parametrize(
    "template",
    ["", "Bearer not-the-right-token-at-all", "Bearer {token}x", "Basic {token}", "{token}"],
    ids=["missing", "wrong", "longer", "basic-scheme", "no-scheme"],
)
async def test_every_endpoint_needs_a_users_token(
    api: ControlApi, http: aiohttp.ClientSession, line: StandInLine, template: str
) -> None:
    headers = {"Authorization": template.format(token=TOKEN)} if template else {}
    paths = [("GET", "/v1/status"), ("GET", "/v1/alarms"), ("GET", "/v1/events")]
    for method, path in [*paths, ("POST", "/v1/commands")]:
        body = b'{"command": "start", "batch": "B1"}' if method == "POST" else None
        async with http.request(method, api.url + path, data=body, headers=headers) as r:
            assert r.status == 401, path
            assert r.content_type == PROBLEM_JSON
            assert r.headers["WWW-Authenticate"].startswith("Bearer")
            problem = await r.json(content_type=None)
            assert problem["status"] == 401
    assert line.calls == []


async def test_status_with_the_token_is_the_lines_status(
    api: ControlApi, http: aiohttp.ClientSession, line: StandInLine
) -> None:
    line.good, line.rejected = 120, 3
    async with http.get(f"{api.url}/v1/status", headers=AUTH) as r:
        assert r.status == 200
        assert await r.json() == line.status()


async def test_counters_are_the_counting_part_of_status(
    api: ControlApi, http: aiohttp.ClientSession, line: StandInLine
) -> None:
    line.good = 77
    async with http.get(f"{api.url}/v1/counters", headers=AUTH) as r:
        counters = await r.json()
    assert counters["counters"] == {"good": 77, "rejected": 0}
    assert counters["state"] == {"name": "Idle", "number": IDLE}
    assert "devices" not in counters and "alarms" not in counters
    assert set(counters) < set(line.status())


async def test_alarms_lists_the_active_alarms(
    api: ControlApi, http: aiohttp.ClientSession, line: StandInLine
) -> None:
    alarm = {"code": "REJECT_UNCONFIRMED", "message": "gate", "since": "2026-01-01T00:00:00Z"}
    line.active_alarms.append(alarm | {"holds": True})
    async with http.get(f"{api.url}/v1/alarms", headers=AUTH) as r:
        shown = alarm | {"holds": True, "acknowledged": None}
        assert await r.json() == {"alarms": [shown], "acknowledgements": []}


async def test_a_command_reaches_the_line_with_user_reason_and_batch(
    api: ControlApi, http: aiohttp.ClientSession, line: StandInLine
) -> None:
    body = {"command": "start", "reason": "shift start", "batch": "B-2026-001"}
    status, _, answer = await post(http, api, body, AUTH | {"X-Linectl-User": "mallory"})
    assert status == 200  # the token says who it is: the old user header changes nothing
    assert line.calls == [Call(Command.START, "qa.anna", "shift start", "B-2026-001")]
    assert answer["command"] == "start" and answer["user"] == "qa.anna"
    assert answer["status"]["state"] == {"name": "Execute", "number": EXECUTE}
    assert answer["status"]["batch"] == "B-2026-001"


async def test_a_machine_token_makes_the_machine_account_the_user(
    api: ControlApi, line: StandInLine, http: aiohttp.ClientSession
) -> None:
    status, _, answer = await post(http, api, {"command": "start", "batch": "B1"}, auth("mes"))
    assert status == 200 and answer["user"] == "mes"
    assert line.calls[0].user == "mes"


@pytest.mark.parametrize("command", list(Command))
async def test_every_command_name_is_accepted_by_the_api(
    api: ControlApi,
    http: aiohttp.ClientSession,
    line: StandInLine,
    people: People,
    command: Command,
) -> None:
    body: dict[str, Any] = {"command": command.value, "batch": "B1"}
    if command is Command.CLOSE_BATCH:  # a person signs it
        body["signature"] = {"password": people.passwords["qa.anna"], "meaning": "performed"}
    status, content_type, _ = await post(http, api, body)
    assert status in (200, 409)  # the stand-in's state rules decide; the API passed it on
    assert line.calls[-1].command is command
    if status == 409:
        assert content_type == PROBLEM_JSON


async def test_a_refused_command_is_409_problem_json(
    api: ControlApi, http: aiohttp.ClientSession, line: StandInLine
) -> None:
    status, content_type, problem = await post(http, api, {"command": "unhold"})
    assert status == 409
    assert content_type == PROBLEM_JSON
    assert problem == {
        "type": "urn:linectl:problem:command-refused",
        "title": "Command refused",
        "status": 409,
        "detail": "unhold is not allowed in state Idle",
        "command": "unhold",
    }
    assert line.state == IDLE


async def test_hold_then_unhold_walks_the_line_through_held(
    api: ControlApi, http: aiohttp.ClientSession, line: StandInLine
) -> None:
    await post(http, api, {"command": "start", "batch": "B1"})
    _, _, held = await post(http, api, {"command": "hold", "reason": "jam at the camera"})
    assert held["status"]["state"]["number"] == HELD
    _, _, resumed = await post(http, api, {"command": "unhold"})
    assert resumed["status"]["state"]["number"] == EXECUTE
    assert [c.command for c in line.calls] == [Command.START, Command.HOLD, Command.UNHOLD]
    assert line.calls[1].reason == "jam at the camera"


@pytest.mark.parametrize(
    ("body", "field", "words"),
    [
        (b'{"command": "start",', "(body)", "not valid JSON"),
        (b"", "(body)", "empty"),
        (b"\xff\xfe{}", "(body)", "UTF-8"),
        (b'["start"]', "(body)", "JSON object"),
        (b"[" * 30_000 + b"]" * 30_000, "(body)", "nested too deeply"),
        ({}, "command", "required"),
        ({"command": "launch"}, "command", "'launch'"),
        ({"command": 5}, "command", "5"),
        ({"command": "start", "reason": 7}, "reason", "string"),
        ({"command": "start", "reason": "x" * 1001}, "reason", "1000"),
        ({"command": "start", "batch": ""}, "batch", "batch"),
        ({"command": "start", "batch": 12}, "batch", "batch"),
        ({"command": "start", "bacth": "B1"}, "bacth", "unknown field"),
    ],
    ids=[
        "truncated-json",
        "empty",
        "not-utf8",
        "array",
        "nested-30000-deep",
        "no-command",
        "unknown-command",
        "command-not-string",
        "reason-not-string",
        "reason-too-long",
        "empty-batch",
        "batch-not-string",
        "misspelt-field",
    ],
)
async def test_malformed_input_is_400_naming_the_field(
    api: ControlApi,
    http: aiohttp.ClientSession,
    line: StandInLine,
    body: Any,
    field: str,
    words: str,
) -> None:
    status, content_type, problem = await post(http, api, body)
    assert status == 400
    assert content_type == PROBLEM_JSON
    assert problem["field"] == field
    assert words in problem["detail"]
    assert line.calls == []


async def test_a_body_over_64_kib_is_413(api: ControlApi, http: aiohttp.ClientSession) -> None:
    body = json.dumps({"command": "start", "reason": "x" * 70_000}).encode()
    status, content_type, problem = await post(http, api, body)
    assert (status, content_type) == (413, PROBLEM_JSON)
    assert "larger than" in problem["detail"]


async def test_unknown_path_is_404_and_wrong_method_is_405(
    api: ControlApi, http: aiohttp.ClientSession
) -> None:
    async with http.get(f"{api.url}/v1/nothing", headers=AUTH) as r:
        assert (r.status, r.content_type) == (404, PROBLEM_JSON)
        assert "/v1/nothing" in (await r.json(content_type=None))["detail"]
    async with http.post(f"{api.url}/v1/status", headers=AUTH) as r:
        assert (r.status, r.content_type) == (405, PROBLEM_JSON)
        assert "GET" in r.headers["Allow"]
    async with http.get(f"{api.url}/v1/commands", headers=AUTH) as r:
        assert r.status == 405
        assert r.headers["Allow"] == "POST"


async def test_unknown_paths_are_401_before_404_so_routes_stay_hidden(
    api: ControlApi, http: aiohttp.ClientSession
) -> None:
    async with http.get(f"{api.url}/v1/nothing") as r:
        assert r.status == 401


async def test_a_failing_line_gives_500_and_the_log_has_the_traceback(
    api: ControlApi, http: aiohttp.ClientSession, line: StandInLine
) -> None:
    line.fail_with = RuntimeError("ledger exploded")
    with captured_logs() as logs:
        status, content_type, problem = await post(http, api, {"command": "stop"})
    assert (status, content_type) == (500, PROBLEM_JSON)
    assert "ledger exploded" not in json.dumps(problem)  # internals stay in the log
    assert "ledger exploded" in logs.getvalue()


async def test_the_token_never_reaches_the_log(
    api: ControlApi, http: aiohttp.ClientSession
) -> None:
    wrong = "Bearer lcs_wrong-token-that-is-long-enough"
    with captured_logs("DEBUG") as logs:
        await post(http, api, {"command": "start", "batch": "B1"})
        await post(http, api, {"command": "hold"}, {"Authorization": wrong})
        async with http.get(f"{api.url}/v1/status", headers=AUTH) as r:
            assert r.status == 200
    text = logs.getvalue()
    assert "command accepted" in text  # the log was captured at all
    assert TOKEN not in text
    assert "wrong-token-that-is-long-enough" not in text


async def test_close_is_safe_twice_and_frees_the_port(
    line: StandInLine, identity: Identity
) -> None:
    api = await start_control_api(line, TCP_ANY_PORT, identity=identity)
    port = int(api.url.rsplit(":", 1)[1])
    await api.close()
    await api.close()
    again = await start_control_api(
        line, TCP_ANY_PORT.model_copy(update={"port": port}), identity=identity
    )
    await again.close()


async def test_a_port_in_use_is_a_clear_error(
    api: ControlApi, line: StandInLine, identity: Identity
) -> None:
    port = int(api.url.rsplit(":", 1)[1])
    taken = TCP_ANY_PORT.model_copy(update={"port": port})
    with pytest.raises(ControlApiError, match=rf"127\.0\.0\.1:{port}.*another linectl daemon"):
        await start_control_api(line, taken, identity=identity)


# --- Unix socket ---------------------------------------------------------------------------------


def unix_section(path: Path) -> ControlSection:
    return ControlSection(unix_socket=path)


async def test_the_api_serves_on_a_unix_socket(
    tmp_path: Path, line: StandInLine, identity: Identity
) -> None:
    path = tmp_path / "control.sock"
    api = await start_control_api(line, unix_section(path), identity=identity)
    try:
        assert api.url == f"unix:{path}"
        assert stat.S_ISSOCK(path.stat().st_mode)
        assert stat.S_IMODE(path.stat().st_mode) == 0o660
        connector = aiohttp.UnixConnector(path=str(path))
        async with aiohttp.ClientSession(connector=connector) as http:
            async with http.get("http://localhost/v1/status") as r:
                assert r.status == 401
            body = {"command": "start", "batch": "B9", "reason": "over the socket"}
            headers = auth("op.eve")
            async with http.post("http://localhost/v1/commands", json=body, headers=headers) as r:
                assert r.status == 200
    finally:
        await api.close()
        await api.close()
    assert line.calls == [Call(Command.START, "op.eve", "over the socket", "B9")]
    assert not path.exists()


async def test_a_stale_socket_file_from_a_crash_is_replaced(
    tmp_path: Path, line: StandInLine, identity: Identity
) -> None:
    path = tmp_path / "control.sock"
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as dead:
        dead.bind(str(path))  # bound, never listening, then closed: what a crash leaves
    assert path.exists()
    api = await start_control_api(line, unix_section(path), identity=identity)
    await api.close()


async def test_a_live_socket_is_not_taken_over(
    tmp_path: Path, line: StandInLine, identity: Identity
) -> None:
    path = tmp_path / "control.sock"
    first = await start_control_api(line, unix_section(path), identity=identity)
    try:
        with pytest.raises(ControlApiError, match="in use: is another linectl daemon running"):
            await start_control_api(line, unix_section(path), identity=identity)
        assert path.exists()
    finally:
        await first.close()


async def test_a_regular_file_at_the_socket_path_is_left_alone(
    tmp_path: Path, line: StandInLine, identity: Identity
) -> None:
    path = tmp_path / "control.sock"
    path.write_text("not a socket")
    with pytest.raises(ControlApiError, match="exists and is not a socket"):
        await start_control_api(line, unix_section(path), identity=identity)
    assert path.read_text() == "not a socket"


async def test_unhold_after_an_unconfirmed_reject_needs_the_permission_and_a_signature(
    api: ControlApi, http: aiohttp.ClientSession, line: StandInLine, people: People
) -> None:
    await post(http, api, {"command": "start", "batch": "B1"})
    await post(http, api, {"command": "hold"})
    line.active_alarms.append({"code": "reject-unconfirmed", "message": "gate", "holds": True})
    status, _, problem = await post(http, api, {"command": "unhold"}, auth("op.eve"))
    assert status == 403 and "unhold after an unconfirmed reject" in problem["detail"]
    status, _, problem = await post(http, api, {"command": "unhold"})
    assert (status, problem["type"]) == (403, "urn:linectl:problem:signature-required")
    assert "line.unhold-reject" in problem["detail"]
    assert [c.command for c in line.calls] == [Command.START, Command.HOLD]
    signed = {"password": people.passwords["qa.anna"], "meaning": "reviewed"}
    status, _, answer = await post(http, api, {"command": "unhold", "signature": signed})
    assert status == 200, answer
    assert answer["signature"]["meaning"] == "reviewed" and answer["signature"]["user"] == "qa.anna"
    with Ledger(people.path) as ledger, ledger.identity.read() as rows:
        (sig,) = rows.signatures("line.unhold-reject")
    assert (sig.user_name, sig.printed_name, sig.subject) == ("qa.anna", "Anna Svensson", "B1")
