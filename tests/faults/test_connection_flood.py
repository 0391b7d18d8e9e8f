"""Issue 15, defect 1: unauthenticated connections cannot exhaust the daemon.

1,100 local connections that never finished their HTTP headers held the daemon's 1,024 file
descriptors: the control API stopped answering, the printer could not reconnect and the log
took "socket.accept() out of system resource" 151,130 times in 32 s. Now the oldest connection
that never authenticated is closed over a cap, a connection gets a limited time for its request,
and accept errors are logged at most once per ten seconds. With the 2,000 connections still
open the line runs its batch (the devices reconnect, events go upstream), and afterwards the
invariants of issue 15 hold.
"""

from __future__ import annotations

import asyncio
import contextlib
import resource
import shutil
import signal
import sys
from pathlib import Path

import pytest
from aiohttp import web

from linectl.config import ControlSection
from linectl.line.control import Command
from linectl.service.client import ControlClient, Endpoint
from linectl.service.connections import ConnectionGuard
from standards.packml import PackMLState
from tests.e2e.rig import BATCH, line_rig
from tests.e2e.rig_upstream import epcis_toml
from tests.e2e.test_daemon_process import config_text
from tests.people import People

REPO = Path(__file__).resolve().parents[2]
STALLED = 2000
DAEMON_FILES = 1024  # the daemon's descriptor limit: a unit without LimitNOFILE
HALF_REQUEST = b"GET /v1/status HTTP/1.1\r\nHost: line\r\n"  # the headers never end


def _own_files(needed: int) -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < needed:
        if hard != resource.RLIM_INFINITY and hard < needed:
            pytest.fail(f"the test needs {needed} open files, the hard limit is {hard}")
        resource.setrlimit(resource.RLIMIT_NOFILE, (needed, hard))


async def _stall(path: Path, writers: list[asyncio.StreamWriter]) -> bool:
    """Open one connection to the socket at ``path`` and send half a request; False if refused."""
    try:
        async with asyncio.timeout(5):
            _, writer = await asyncio.open_unix_connection(str(path))
    except (OSError, TimeoutError):
        return False
    writer.write(HALF_REQUEST)
    writers.append(writer)
    return True


async def test_the_control_api_answers_its_users_while_2000_connections_stall(
    tmp_path: Path,
) -> None:
    prlimit = shutil.which("prlimit")
    assert prlimit is not None, "prlimit (util-linux) is needed to give the daemon 1,024 files"
    _own_files(STALLED + 1000)
    async with line_rig(tmp_path, packs=10, pool=20, daemon=False, upstream=True) as rig:
        assert rig.central is not None
        config = tmp_path / "line.toml"
        config.write_text(
            config_text(tmp_path, rig.plc.modbus_port, rig.printer.port, rig.camera.port)
            + epcis_toml(rig.central.epcis_url)
        )
        socket_path = tmp_path / "control.sock"
        with (tmp_path / "daemon.log").open("wb") as log:
            proc = await asyncio.create_subprocess_exec(
                prlimit, f"--nofile={DAEMON_FILES}:{DAEMON_FILES}", sys.executable, "-m",
                "linectl.cli", "run", "--config", str(config), "--log-level", "INFO",
                cwd=REPO, stdout=asyncio.subprocess.PIPE, stderr=log,
            )  # fmt: skip
        writers: list[asyncio.StreamWriter] = []
        try:
            assert proc.stdout is not None
            async with asyncio.timeout(30):
                ready = (await proc.stdout.readline()).decode()
            assert ready.startswith("linectl ready:"), (tmp_path / "daemon.log").read_text()
            people = People(rig.ledger.path)
            await asyncio.to_thread(people.add, "olga", "operator", "Olga Operator")
            client = ControlClient(
                Endpoint.from_config(ControlSection(unix_socket=socket_path)),
                await asyncio.to_thread(people.session, "olga"),
            )

            opened = 0
            for _ in range(STALLED // 100):  # in waves, as fast as the daemon accepts them
                wave = [_stall(socket_path, writers) for _ in range(100)]
                opened += sum(await asyncio.gather(*wave))
                # the operator's client is answered in the middle of the flood, every time
                status = await asyncio.to_thread(client.status)
                assert status["state"]["name"] == "STOPPED"
            assert opened == STALLED  # the daemon kept accepting: no connection was refused

            log_text = (tmp_path / "daemon.log").read_text()
            assert "closed unauthenticated connections over the cap" in log_text
            assert log_text.count("cannot accept connections") <= 2
            # the flood still open, the line produces: the batch runs to its end
            await asyncio.to_thread(client.command, Command.START, reason="flood", batch=BATCH)
            await rig.wait(lambda: rig.plc.state is PackMLState.COMPLETE)
            proc.send_signal(signal.SIGTERM)
            async with asyncio.timeout(30):
                assert await proc.wait() == 0, (tmp_path / "daemon.log").read_text()[-3000:]
        finally:
            for writer in writers:
                writer.close()
            if proc.returncode is None:
                proc.kill()
                with contextlib.suppress(ProcessLookupError):
                    await proc.wait()
        report = await rig.check_invariants()
        assert report.jobs_sent == 10


async def _answer(request: web.Request) -> web.Response:
    if request.headers.get("Authorization") == "Bearer ok":
        request.app[GUARD_KEY].trust(request)
    return web.Response(text="ok")


GUARD_KEY = web.AppKey("guard", ConnectionGuard)


async def test_over_the_cap_the_oldest_unauthenticated_connection_is_closed_never_a_user(
    tmp_path: Path,
) -> None:
    guard = ConnectionGuard("test", limit=3)
    app = web.Application()
    app[GUARD_KEY] = guard
    app.router.add_get("/", _answer)
    runner = web.AppRunner(app, access_log=None, handle_signals=False)
    await runner.setup()
    assert runner.server is not None
    guard.attach(runner.server)
    path = tmp_path / "api.sock"
    await web.UnixSite(runner, str(path)).start()
    streams: list[tuple[asyncio.StreamReader, asyncio.StreamWriter]] = []
    try:
        user = await asyncio.open_unix_connection(str(path))
        user[1].write(b"GET / HTTP/1.1\r\nHost: t\r\nAuthorization: Bearer ok\r\n\r\n")
        assert b"200 OK" in await user[0].readuntil(b"ok")
        for _ in range(5):
            streams.append(await asyncio.open_unix_connection(str(path)))
            streams[-1][1].write(HALF_REQUEST)
            await streams[-1][1].drain()
        async with asyncio.timeout(5):
            # the two oldest of the five stalled ones are closed: the server hangs up on them
            for reader, _ in streams[:2]:
                assert await reader.read() == b""
        assert guard.untrusted == 3 and guard.evicted == 2
        user[1].write(b"GET / HTTP/1.1\r\nHost: t\r\nAuthorization: Bearer ok\r\n\r\n")
        assert b"200 OK" in await user[0].readuntil(b"ok")  # the user's connection stayed
        user[1].close()
    finally:
        for _, writer in streams:
            writer.close()
        await runner.cleanup()
