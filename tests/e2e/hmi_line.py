"""The HMI against the simulated line: simulators + daemon (with its control API) in the test's
event loop, ``linectl hmi`` as a real process over HTTPS, and headless Chromium driving it.
"""

from __future__ import annotations

import asyncio
import contextlib
import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from linectl.config import ControlSection, IdentitySection
from linectl.identity import Identity
from linectl.service.api import ControlApi, start_control_api
from tests.e2e.rig import Rig, line_rig
from tests.people import People

REPO = Path(__file__).resolve().parents[2]


@dataclass
class HmiLine:
    rig: Rig
    api: ControlApi
    api_port: int
    hmi: asyncio.subprocess.Process
    url: str
    config: Path
    log: Path
    people: People

    async def restart_api(self, stopped: asyncio.Event | None = None) -> None:
        """Stop the control API (as a daemon restart does), then serve it again, same port."""
        await self.api.close()
        if stopped is not None:
            await stopped.wait()
        self.api = await serve_api(self.rig, self.api_port)


async def serve_api(rig: Rig, port: int) -> ControlApi:
    identity = Identity(rig.ledger, IdentitySection())
    return await start_control_api(
        rig.rt,
        ControlSection().model_copy(update={"port": port}),
        identity=identity,
        line=rig.config.line,
    )


def hmi_config(rig: Rig, api_port: int, extra: str = "", line_extra: str = "") -> str:
    tmp = rig.tmp
    return f"""
[line]
id = "e2e-line"
read_point = "urn:epc:id:sgln:0950600.01343.1"
biz_location = "urn:epc:id:sgln:0950600.01343.0"
company_prefix_length = 7
{line_extra}

[ledger]
path = "{rig.config.ledger.path}"

[control]
port = {api_port}

[hmi]
host = "127.0.0.1"
port = 0
state_dir = "{tmp / "hmi"}"
token_file = "{tmp / "hmi.token"}"
{extra}
"""


def thread_niceness(pid: int) -> set[int]:
    """The CPU niceness of each thread of process ``pid`` (field 19 of /proc/PID/task/TID/stat)."""
    found = set()
    for stat in Path(f"/proc/{pid}/task").glob("*/stat"):
        fields = stat.read_text().rsplit(")", 1)[1].split()
        found.add(int(fields[16]))
    return found


@contextlib.asynccontextmanager
async def observer_process(
    command: str, config: Path, log: Path, scheme: str
) -> AsyncIterator[tuple[asyncio.subprocess.Process, str]]:
    """``linectl COMMAND --config CONFIG`` as a process (stderr to ``log``), once it printed its
    ready line with a ``scheme`` URL: (the process, the URL). Terminated at the end."""
    with log.open("wb") as err:
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "linectl.cli", command, "--config", str(config),
            "--log-level", "INFO", cwd=REPO, stdout=asyncio.subprocess.PIPE, stderr=err,
        )  # fmt: skip
    try:
        assert proc.stdout is not None
        async with asyncio.timeout(60):
            ready = (await proc.stdout.readline()).decode()
        if not ready.startswith(f"linectl {command} ready: url={scheme}"):
            raise AssertionError(ready + await asyncio.to_thread(log.read_text))
        assert thread_niceness(proc.pid) == {10}  # the pack path wins every core
        yield proc, ready.split("url=", 1)[1].split()[0]
    finally:
        if proc.returncode is None:
            proc.terminate()
            async with asyncio.timeout(20):
                await proc.wait()


@contextlib.asynccontextmanager
async def hmi_line(
    tmp: Path, hmi_extra: str = "", line_extra: str = "", **rig_options: Any
) -> AsyncIterator[HmiLine]:
    """The line (``line_rig`` options), its control API on a free port and the HMI process."""
    async with line_rig(tmp, **rig_options) as rig:
        people = People(rig.ledger.path)
        await asyncio.to_thread(people.add, "hmi", "machine", "Line HMI")
        await asyncio.to_thread(people.token, "hmi", tmp / "hmi.token")
        api = await serve_api(rig, 0)
        try:
            api_port = int(api.url.rsplit(":", 1)[1])
            config = tmp / "hmi-line.toml"
            config.write_text(hmi_config(rig, api_port, hmi_extra, line_extra))
            log = tmp / "hmi.log"
            async with observer_process("hmi", config, log, "https://") as (proc, url):
                line = HmiLine(rig, api, api_port, proc, url, config, log, people)
                yield line
            api = line.api
        finally:
            await api.close()
