"""``linectl status`` / ``start`` / ``hold`` ... against a real control API on a real socket,
as users logged in on the line's ledger (``linectl login``'s session file)."""

from __future__ import annotations

import asyncio
import io
import json
import os
import socket
import sys
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from linectl.cli import main
from linectl.config import ControlSection, IdentitySection, load_config
from linectl.identity import Identity
from linectl.ledger import Ledger
from linectl.line.control import Command
from linectl.service.api import ControlApi, start_control_api
from linectl.service.client import ControlClient, ControlClientError, Endpoint
from tests.people import People
from tests.service.standin_line import EXECUTE, HELD, Call, StandInLine, captured_logs

REPO = Path(__file__).resolve().parents[2]

LINE_TOML = """\
[line]
id = "cli-test-line"
read_point = "urn:epc:id:sgln:4012345.00001.1"
biz_location = "urn:epc:id:sgln:4012345.00001.0"
company_prefix_length = 7

[ledger]
path = "state/line.db"

[control]
{control}
"""


def write_config(folder: Path, control: str) -> Path:
    path = folder / "line.toml"
    path.write_text(LINE_TOML.format(control=control), encoding="utf-8")
    return path


def free_port() -> int:
    """A port nothing listens on (bound, then released)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(autouse=True)
def server_logs() -> Iterator[None]:
    """The in-process server logs to a buffer, as the daemon logs to the journal, not stdout."""
    with captured_logs("DEBUG"):
        yield


@dataclass
class Daemon:
    line: StandInLine
    api: ControlApi
    config: Path
    people: People


@pytest.fixture
def people(tmp_path: Path) -> People:
    """The line's ledger with supervisor qa.anna (logged in) and operator op.eve."""
    (tmp_path / "state").mkdir()
    people = People(tmp_path / "state" / "line.db")
    people.add("qa.anna", "supervisor", "Anna Svensson")
    people.add("op.eve", "operator", "Eve Operator")
    people.session("qa.anna")
    return people


@pytest.fixture
def identity(people: People) -> Iterator[Identity]:
    with Ledger(people.path) as ledger:
        yield Identity(ledger, IdentitySection())


@pytest.fixture
async def daemon(tmp_path: Path, people: People, identity: Identity) -> AsyncIterator[Daemon]:
    """The stand-in line served like the daemon does, users from its ledger."""
    line = StandInLine()
    any_port = ControlSection().model_copy(update={"port": 0})
    api = await start_control_api(line, any_port, identity=identity)
    config = write_config(tmp_path, f"port = {api.url.rsplit(':', 1)[1]}")
    yield Daemon(line, api, config, people)
    await api.close()


async def run_cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = await asyncio.to_thread(main, list(argv))
    out, err = capsys.readouterr()
    return code, out, err


async def test_status_prints_state_batch_counters_and_alarms(
    daemon: Daemon, capsys: pytest.CaptureFixture[str]
) -> None:
    daemon.line.good, daemon.line.rejected = 1234, 5
    daemon.line.active_alarms.append(
        {"code": "PLC_LOST", "message": "PLC not answering", "since": "08:00", "holds": True}
        | {"count": 2}
    )
    code, out, err = await run_cli(capsys, "--config", str(daemon.config), "status")
    assert (code, err) == (0, "")
    lines = out.splitlines()
    assert lines[0] == "line: test-line"
    assert lines[1] == "state: Idle (4)"
    assert "  good: 1,234" in lines
    assert "  plc: lost" in lines
    assert lines[-1] == "  ! PLC_LOST: PLC not answering (since 08:00, 2 times, holds the line)"


async def test_status_json_is_the_daemons_document(
    daemon: Daemon, capsys: pytest.CaptureFixture[str]
) -> None:
    daemon.line.good = 9
    code, out, _ = await run_cli(capsys, "--config", str(daemon.config), "status", "--json")
    assert code == 0
    assert json.loads(out) == daemon.line.status()


async def test_start_sends_batch_reason_and_user_and_reports_the_new_state(
    daemon: Daemon, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["--config", str(daemon.config), "start", "--batch", "B-7"]
    code, out, err = await run_cli(capsys, *argv, "--reason", "shift start")
    assert (code, err) == (0, "")
    assert out.strip() == "start accepted (by qa.anna): state Execute (6), batch B-7"
    assert daemon.line.calls == [Call(Command.START, "qa.anna", "shift start", "B-7")]


@pytest.mark.parametrize(
    "command", [c for c in Command if c is not Command.START], ids=lambda c: c.value
)
async def test_each_operator_command_is_a_subcommand(
    daemon: Daemon, capsys: pytest.CaptureFixture[str], command: Command
) -> None:
    daemon.people.session("op.eve")
    argv = ["--config", str(daemon.config), command.value]
    code, _, err = await run_cli(capsys, *argv, "--reason", "why not")
    if command in (Command.ABORT, Command.CLOSE_BATCH):  # not an operator's (the matrix)
        assert code == 2 and "op.eve (role operator) may not" in err
        assert daemon.line.calls == []
        return
    assert code in (0, 1), err  # accepted, or refused by the stand-in's state rules
    assert daemon.line.calls == [Call(command, "op.eve", "why not", None)]


async def test_a_refused_command_exits_1_and_says_why(
    daemon: Daemon, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = await run_cli(capsys, "--config", str(daemon.config), "unhold")
    assert code == 1
    assert out == ""
    assert err.strip() == "linectl: unhold refused: unhold is not allowed in state Idle"


async def test_hold_and_unhold_from_the_command_line(
    daemon: Daemon, capsys: pytest.CaptureFixture[str]
) -> None:
    cfg = ["--config", str(daemon.config)]
    await run_cli(capsys, *cfg, "start", "--batch", "B1")
    code, out, _ = await run_cli(capsys, *cfg, "hold", "--reason", "jam")
    assert code == 0 and "state Held (11)" in out
    assert daemon.line.state == HELD
    code, out, _ = await run_cli(capsys, *cfg, "unhold")
    assert code == 0 and daemon.line.state == EXECUTE


async def test_the_user_is_the_one_logged_in_whatever_the_environment_says(
    daemon: Daemon, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SUDO_USER", "op.carla")
    monkeypatch.setenv("USER", "root")
    code, _, _ = await run_cli(capsys, "--config", str(daemon.config), "start", "--batch", "B2")
    assert code == 0
    assert daemon.line.calls[0].user == "qa.anna"


async def test_closing_the_batch_from_the_cli_is_signed_with_the_password(
    daemon: Daemon, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    cfg = ["--config", str(daemon.config), "--password-stdin"]
    await run_cli(capsys, *cfg, "start", "--batch", "B3")
    monkeypatch.setattr(sys, "stdin", io.StringIO("not-her-password\n"))
    code, _, err = await run_cli(capsys, *cfg, "close-batch")
    assert code == 2 and "wrong password for qa.anna" in err
    assert [c.command for c in daemon.line.calls] == [Command.START]
    monkeypatch.setattr(sys, "stdin", io.StringIO(daemon.people.passwords["qa.anna"] + "\n"))
    code, out, err = await run_cli(capsys, *cfg, "close-batch", "--meaning", "reviewed")
    assert code == 0, err
    assert "signed by Anna Svensson (qa.anna)" in out and "reviewed" in out
    with Ledger(daemon.people.path) as ledger, ledger.identity.read() as rows:
        (sig,) = rows.signatures("batch.close", "B3")
    assert (sig.user_name, sig.meaning) == ("qa.anna", "reviewed")


async def test_no_daemon_running_is_one_clear_message(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    port = free_port()
    config = write_config(tmp_path, f"port = {port}")
    code, out, err = await run_cli(capsys, "--config", str(config), "status")
    assert code == 3
    assert out == ""
    assert err.strip() == (
        f"linectl: no linectl daemon answering at http://127.0.0.1:{port}: "
        "is it running? (systemctl status linectl)"
    )


async def test_no_daemon_on_the_configured_socket_is_the_same_message(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    sock = tmp_path / "control.sock"
    config = write_config(tmp_path, f'unix_socket = "{sock}"')
    code, _, err = await run_cli(capsys, "--config", str(config), "stop")
    assert code == 3
    assert f"no linectl daemon answering at unix:{sock}: is it running?" in err


async def test_an_unknown_session_is_an_authorisation_error(
    daemon: Daemon, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (session,) = await asyncio.to_thread(
        lambda: list(Path(os.environ["LINECTL_SESSION_DIR"]).iterdir())
    )
    await asyncio.to_thread(session.write_text, "lcs_replaced-by-someone-who-guessed\n")
    code, _, err = await run_cli(capsys, "--config", str(daemon.config), "status")
    assert code == 2
    assert "refused the credential" in err and "log in again" in err
    assert "replaced-by-someone-who-guessed" not in err


async def test_the_cli_finds_the_daemon_on_a_unix_socket(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], identity: Identity
) -> None:
    sock = tmp_path / "run" / "control.sock"
    config = write_config(tmp_path, f'unix_socket = "{sock}"')
    loaded = load_config(config)
    line = StandInLine()
    api = await start_control_api(line, loaded.control, identity=identity)
    try:
        code, out, _ = await run_cli(capsys, "--config", str(config), "start", "--batch", "U1")
    finally:
        await api.close()
    assert code == 0
    assert "state Execute (6)" in out
    assert line.calls[0].batch == "U1"


async def test_the_installed_command_runs_end_to_end_in_a_subprocess(daemon: Daemon) -> None:
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        *("-m", "linectl.cli", "--config", str(daemon.config), "start"),
        *("--batch", "B-sub", "--reason", "from a shell"),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        cwd=REPO,
    )
    async with asyncio.timeout(60):
        out, err = await proc.communicate()
    assert proc.returncode == 0, err.decode()
    assert out.decode().strip() == "start accepted (by qa.anna): state Execute (6), batch B-sub"
    assert daemon.line.calls == [Call(Command.START, "qa.anna", "from a shell", "B-sub")]


def test_a_missing_api_token_file_is_named(tmp_path: Path) -> None:
    endpoint = Endpoint(port=free_port())
    with pytest.raises(ControlClientError, match=r"never-created\.token"):
        ControlClient.from_token_file(endpoint, tmp_path / "never-created.token")
