"""The HMI over real HTTPS (``start_hmi``) against a control API serving a stand-in line with
real users (fixtures ``line``, ``hmi``, ``http``), and helpers to log in through its form."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from linectl.config import ControlSection, IdentitySection, LineConfig, LineSection, parse_config
from linectl.hmi.server import RunningHmi, start_hmi
from linectl.identity import Identity
from linectl.ledger import Ledger
from linectl.service.api import start_control_api
from tests.people import People
from tests.service.standin_line import StandInLine


@pytest.fixture
def line() -> StandInLine:
    return StandInLine()


@pytest.fixture
async def hmi(tmp_path: Path, line: StandInLine) -> AsyncIterator[tuple[RunningHmi, People]]:
    people = People(tmp_path / "line.db")
    people.add("hmi", "machine")
    people.token("hmi", tmp_path / "hmi.token")
    people.add("op.olga", "operator", "Olga Operator")
    with Ledger(people.path) as ledger:
        api = await start_control_api(
            line,
            ControlSection().model_copy(update={"port": 0}),
            identity=Identity(ledger, IdentitySection()),
            line=LineSection(
                id="web",
                read_point="urn:epc:id:sgln:0950600.01343.1",
                biz_location="urn:epc:id:sgln:0950600.01343.0",
                company_prefix_length=7,
            ),
        )
        config: LineConfig = parse_config(
            {
                "line": {"id": "web", "read_point": "urn:epc:id:sgln:0950600.01343.1",
                         "biz_location": "urn:epc:id:sgln:0950600.01343.0",
                         "company_prefix_length": 7},
                "ledger": {"path": str(people.path)},
                "control": {"port": int(api.url.rsplit(":", 1)[1])},
                "hmi": {"host": "127.0.0.1", "port": 0, "token_file": str(tmp_path / "hmi.token"),
                        "login_attempts_per_min": 3},
            },
            tmp_path / "line.toml",
        )  # fmt: skip
        running = await start_hmi(config)
        try:
            yield running, people
        finally:
            await running.close()
            await api.close()


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(ssl=False)) as session:
        yield session


def csrf(page: str) -> str:
    found = re.search(r'name="csrf" value="([^"]+)"', page)
    assert found is not None
    return found.group(1)


async def login_form(http: aiohttp.ClientSession, url: str) -> tuple[str, Any]:
    async with http.get(url + "login") as r:
        return csrf(await r.text()), r


async def log_in(http: aiohttp.ClientSession, url: str, user: str, password: str) -> str:
    """Log in through the form; returns the overview page."""
    token, _ = await login_form(http, url)
    form = {"user": user, "password": password, "csrf": token}
    async with http.post(url + "login", data=form) as r:
        assert r.status == 200, await r.text()
        return await r.text()
