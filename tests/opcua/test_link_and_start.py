"""The server's link to the daemon over the control API's Unix socket (logins, commands as the
user, the event stream), what it says when it cannot start, and how it mirrors the daemon's
states and alarms into the PackML object."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from asyncua.server.server import Server

from linectl.config import ControlSection, IdentitySection, LineSection, parse_config
from linectl.identity import Identity
from linectl.ledger import Ledger
from linectl.line.control import Command
from linectl.opcua.address_space import LineNodes, build_line_object
from linectl.opcua.link import DaemonLink
from linectl.opcua.mirror import Mirror, alarm_id
from linectl.opcua.nodeset import NodesetError
from linectl.opcua.server import OpcuaError, start_opcua
from standards.packml import PackMLState as S
from tests.opcua.test_conformance import NODESET
from tests.people import People
from tests.service.standin_line import StandInLine

LINE = {"id": "web", "read_point": "urn:epc:id:sgln:0950600.01343.1",
        "biz_location": "urn:epc:id:sgln:0950600.01343.0", "company_prefix_length": 7}  # fmt: skip


@contextlib.asynccontextmanager
async def api_on_socket(tmp_path: Path, line: StandInLine) -> AsyncIterator[tuple[Path, People]]:
    from linectl.service.api import start_control_api

    people = People(tmp_path / "line.db")
    await asyncio.to_thread(people.add, "opcua", "machine")
    await asyncio.to_thread(people.token, "opcua", tmp_path / "opcua.token")
    sock = tmp_path / "c.sock"
    with Ledger(people.path) as ledger:
        api = await start_control_api(
            line,
            ControlSection(unix_socket=sock),
            identity=Identity(ledger, IdentitySection()),
            line=LineSection.model_validate(LINE),
        )
        try:
            yield sock, people
        finally:
            await api.close()


async def test_the_link_logs_in_commands_as_the_user_and_follows_events_on_the_unix_socket(
    tmp_path: Path,
) -> None:
    line = StandInLine(state=S.EXECUTE, batch="B-1")
    async with api_on_socket(tmp_path, line) as (sock, people):
        password = await asyncio.to_thread(people.add, "op.olga", "operator", "Olga Op")
        token = (tmp_path / "opcua.token").read_text().strip()
        link = DaemonLink(ControlSection(unix_socket=sock), token)
        try:
            status, doc = await asyncio.to_thread(link.login_blocking, "op.olga", password)
            assert (status, doc["user"], doc["role"]) == (201, "op.olga", "operator")
            refused, why = await asyncio.to_thread(link.login_blocking, "op.olga", "wrong")
            assert refused == 401 and "password" in why["detail"]
            body = {"command": "hold", "reason": "OPC UA Hold"}
            answer, _, _ = await link.call("POST", "/v1/commands", doc["token"], body)
            assert answer == 200
            assert [(c.command, c.user, c.reason) for c in line.calls] == [
                (Command.HOLD, "op.olga", "OPC UA Hold")
            ]
            seen: asyncio.Queue[tuple[str, dict[str, Any]]] = asyncio.Queue()

            async def sink(name: str, data: dict[str, Any]) -> None:
                seen.put_nowait((name, data))

            follower = asyncio.create_task(link.follow_events(sink))
            try:
                async with asyncio.timeout(30):
                    name, data = await seen.get()
                assert name == "snapshot" and data["batch"] == "B-1" and link.live
            finally:
                follower.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await follower
        finally:
            await link.close()


def config_for(tmp_path: Path, **opcua: Any) -> Any:
    data = {"line": LINE, "ledger": {"path": str(tmp_path / "line.db")},
            "opcua": {"host": "127.0.0.1", "port": 0} | opcua}  # fmt: skip
    return parse_config(data, tmp_path / "line.toml")


async def test_it_will_not_start_without_its_token_or_with_another_nodeset(
    tmp_path: Path, standards: Path
) -> None:
    with pytest.raises(OpcuaError, match=r"opcua\.token.*linectl user add opcua --role machine"):
        await start_opcua(config_for(tmp_path))
    (tmp_path / "opcua.token").write_text("lct_" + "x" * 40 + "\n")
    other = standards / "opcua" / "OpenSCS" / "Opc.Ua.OPENSCS.NodeSet2.xml"
    config = config_for(tmp_path, token_file="opcua.token", nodeset=str(other))
    with pytest.raises(NodesetError, match="is not the PackML NodeSet"):
        await start_opcua(config)
    config = config_for(tmp_path, token_file="opcua.token", nodeset="missing.xml")
    with pytest.raises(NodesetError, match=r"missing\.xml.*\[opcua\] nodeset"):
        await start_opcua(config)


def test_a_certificate_without_its_key_is_a_configuration_error(tmp_path: Path) -> None:
    with pytest.raises(Exception, match="give both cert_file and key_file"):
        config_for(tmp_path, cert_file="server.der")


@pytest.fixture
async def nodes(standards: Path) -> AsyncIterator[LineNodes]:
    server = Server()
    await server.init()
    await server.import_xml(str(standards / NODESET))
    await server.load_data_type_definitions()
    yield await build_line_object(server, "web", "Web")
    server.iserver.method_service.stop()


async def current(nodes: LineNodes) -> list[tuple[str, int]]:
    levels = [nodes.levels[k] for k in ("base", "machine", "execute")]
    return [
        ((await lv.current.read_value()).Text or "", await lv.current_number.read_value())
        for lv in levels
    ]


async def test_each_state_lands_in_its_own_state_machine(nodes: LineNodes) -> None:
    mirror = Mirror(nodes, 600.0)
    await mirror.start()
    assert await current(nodes) == [("", 0), ("", 0), ("", 0)]
    await mirror.event("state-changed", {"old": None, "new": "STOPPED"})
    assert await current(nodes) == [("Cleared", 19), ("Stopped", 2), ("", 0)]
    await mirror.event("state-changed", {"old": "STOPPED", "new": "HELD"})
    assert await current(nodes) == [("Cleared", 19), ("Running", 18), ("Held", 11)]
    held = nodes.levels["execute"]
    [out] = await held.available_transitions.read_value()  # Held -> Unholding, only
    assert [t for t, source in held.transitions if source == held.states["Held"][0]] == [out]
    await mirror.event("state-changed", {"old": "HELD", "new": "ABORTED"})
    assert await current(nodes) == [("Aborted", 9), ("", 0), ("", 0)]
    assert await nodes.status["StateChangeInProcess"].read_value() is False
    await mirror.event("state-changed", {"old": "ABORTED", "new": "CLEARING"})
    assert await nodes.status["StateChangeInProcess"].read_value() is True
    assert await nodes.status["StateRequested"].read_value() == S.STOPPED  # where it heads


async def test_holding_alarms_are_alarms_the_others_warnings_and_rejects_count_by_reason(
    nodes: LineNodes,
) -> None:
    mirror = Mirror(nodes, 600.0)
    await mirror.start()
    await mirror.snapshot(
        {
            "state": {"name": "EXECUTE", "number": 6},
            "counters": {"commissioned": 90, "scrapped": 10, "packs_per_minute": 480},
            "reject_reasons": {"no-read": 7, "duplicate": 3},
            "alarms": [
                {"code": "pool-low", "message": "12 left", "holds": False, "since": None},
                {
                    "code": "device-lost:printer",
                    "message": "gone",
                    "holds": True,
                    "since": "2026-12-04T10:00:00+00:00",
                },
            ],
            "batch": {
                "batch": "B-9",
                "gtin": "09506000134352",
                "lot": "L9",
                "expiry": "271231",
                "quantity": 100,
            },
            "pool": {"available": 0, "low_water": 20},
        }
    )
    admin = nodes.admin
    [alarm] = await admin["Alarm"].read_value()
    assert (alarm.ID, alarm.Category) == (alarm_id("device-lost:x"), 1)
    assert alarm.Message == "device-lost:printer: gone"
    [warning] = await admin["Warning"].read_value()
    assert warning.Message == "pool-low: 12 left" and warning.Category == 2
    assert (await admin["StopReason"].read_value()).Message == alarm.Message
    [processed] = await admin["ProdProcessedCount"].read_value()
    assert (processed.Count, processed.AccCount) == (100, 100)
    defective = {d.Name: (d.ID, d.Count) for d in await admin["ProdDefectiveCount"].read_value()}
    assert defective == {"duplicate": (4, 3), "no-read": (1, 7)}
    assert await nodes.status["EquipmentStarved"].read_value() is True
    assert await nodes.status["CurMachSpeed"].read_value() == 480.0
    assert await nodes.serialization["Batch"].read_value() == "B-9"
    assert await nodes.serialization["OpenCase"].read_value() is None
    assert await nodes.serialization["OpenCaseUnits"].read_value() == -1
    # a new batch starts its count again; AccCount keeps the old one
    await mirror.event("counters", {"values": {"commissioned": 5, "scrapped": 0}})
    [processed] = await admin["ProdProcessedCount"].read_value()
    assert (processed.Count, processed.AccCount) == (5, 105)
