"""``linectl opcua`` against the simulated line, with asyncua as the SCADA: the state number
follows a batch through Idle, Execute, Held, Execute and Complete; commands are made and audited
as the logged-in user; a role without the permission, anonymous sessions, the None policy, a
wrong password and an untrusted client certificate are all refused.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
from asyncua import ua
from asyncua.client.client import Client
from asyncua.common.node import Node
from asyncua.ua.uaerrors import BadUserAccessDenied, UaError

from linectl.opcua.nodeset import LINECTL_URI, PACKML_URI
from standards.packml import PackMLState as S
from tests.e2e.rig import BATCH
from tests.opcua.opcua_line import CLIENT_URI, OpcuaLine, client_certificate, opcua_line
from tests.opcua.watch import Watch

pytestmark = pytest.mark.e2e

PACKS = 150
LINE = "e2e-line"


def own(line: int, name: str) -> ua.NodeId:
    return ua.NodeId(ua.String(f"{LINE}.{name}"), ua.Int16(line))


def subsequence(wanted: list[int], seen: list[int]) -> bool:
    it = iter(seen)
    return all(any(s == w for s in it) for w in wanted)


async def test_the_state_number_follows_a_batch_and_commands_are_the_users(tmp_path: Path) -> None:
    async with opcua_line(tmp_path, packs=PACKS, pool=PACKS + 50) as line:
        password = await asyncio.to_thread(line.people.add, "op.olga", "operator", "Olga Op")
        await asyncio.to_thread(line.trust_client)
        async with line.client("op.olga", password) as client:
            await client.load_data_type_definitions()  # PackMLCountDataType, as a SCADA does
            packml = await client.get_namespace_index(PACKML_URI)
            ns = await client.get_namespace_index(LINECTL_URI)
            execute = client.get_node(own(ns, "BaseStateMachine.MachineState.ExecuteState"))
            watch = Watch()
            await watch.start(
                client,
                {
                    "execute": client.get_node(
                        own(ns, "BaseStateMachine.MachineState.ExecuteState.CurrentState.Number")
                    ),
                    "processed": client.get_node(own(ns, "Admin.ProdProcessedCount")),
                    "batch": client.get_node(own(ns, "Serialization.Batch")),
                },
            )
            assert await watch.until("batch", lambda v: v == BATCH)
            await execute.call_method(f"{packml}:Start")
            await watch.until("execute", lambda v: v == S.EXECUTE)
            await watch.until("processed", lambda v: bool(v) and v[0].Count > 0)
            await execute.call_method(f"{packml}:Hold")
            await watch.until("execute", lambda v: v == S.HELD)
            held_at = (await client.get_node(own(ns, "Admin.ProdProcessedCount")).read_value())[0]
            await execute.call_method(f"{packml}:Unhold")
            await watch.until("execute", lambda v: v == S.EXECUTE)
            line.rig.end_after(20)  # PACKS bounds the steps above; the rest is not waited for
            await watch.until("execute", lambda v: v == S.COMPLETE)
            states = [int(v) for v in watch.seen["execute"]]
            wanted = [S.IDLE, S.EXECUTE, S.HELD, S.EXECUTE, S.COMPLETE]
            assert subsequence([int(s) for s in wanted], states), states
            final = (await client.get_node(own(ns, "Admin.ProdProcessedCount")).read_value())[0]
            assert final.Count > held_at.Count
            machine = client.get_node(own(ns, "BaseStateMachine.MachineState.CurrentState"))
            assert (await machine.read_value()).Text == "Running"
        await line.rig.rt.audit_trail.drain()  # the line's audit rows are written by a task
        entries = await asyncio.to_thread(line.rig.ledger.audit_entries, limit=10_000)
        by_olga = [
            e.reason for e in entries if e.actor == "op.olga" and e.command == "line.command"
        ]
        assert by_olga == ["OPC UA Start", "OPC UA Hold", "OPC UA Unhold"], by_olga
        logged = line.log.read_text()
        assert "op.olga" in logged and "lcs_" not in logged and password not in logged


SIGN_AND_ENCRYPT = ua.MessageSecurityMode.SignAndEncrypt


async def refused(
    line: OpcuaLine, user: str | None, password: str | None = None, mode: Any = SIGN_AND_ENCRYPT
) -> str:
    try:
        async with line.client(user, password, mode=mode):
            return ""
    except (UaError, OSError, TimeoutError) as exc:
        return f"{type(exc).__name__}: {exc}"


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def stopped_line(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[OpcuaLine]:
    """One line, never started, for the tests that are only refused (or only read): each
    brings its own users and, where trust matters, its own client certificate."""
    tmp = tmp_path_factory.mktemp("opcua-stopped")
    async with opcua_line(tmp, packs=PACKS, pool=PACKS + 50) as line:
        yield line


@pytest.mark.asyncio(loop_scope="module")
async def test_a_role_without_the_permission_and_unknown_callers_are_refused(
    stopped_line: OpcuaLine, tmp_path: Path
) -> None:
    cert, key = await asyncio.to_thread(client_certificate, tmp_path / "client")  # not trusted
    line = replace(stopped_line, client_cert=cert, client_key=key)
    qa = await asyncio.to_thread(line.people.add, "qa.vera", "qa", "Vera QA")
    # an untrusted client certificate is refused, and kept for an admin to trust
    assert "connection" in (await refused(line, "qa.vera", qa)).lower()  # closed at once
    kept = list((line.pki / "rejected").iterdir())
    assert len(kept) == 1 and "test-client" in kept[0].name, kept
    assert "test-client" in line.log.read_text()
    await asyncio.to_thread(line.trust_client)
    # the default config: no anonymous session, no None policy, no wrong password
    assert (await refused(line, None)).startswith("BadIdentityTokenRejected")
    none = await refused(line, None, mode=ua.MessageSecurityMode.None_)
    assert "No matching endpoints" in none and "SecurityPolicy#None" in none, none
    assert (await refused(line, "qa.vera", "not-" + qa)).startswith("BadUserAccessDenied")
    async with line.client("qa.vera", qa, mode=ua.MessageSecurityMode.Sign) as client:
        packml = await client.get_namespace_index(PACKML_URI)
        ns = await client.get_namespace_index(LINECTL_URI)
        execute: Node = client.get_node(own(ns, "BaseStateMachine.MachineState.ExecuteState"))
        with pytest.raises(BadUserAccessDenied):
            await execute.call_method(f"{packml}:Hold")
        speed = client.get_node(own(ns, "Status.MachSpeed"))
        with pytest.raises(BadUserAccessDenied):
            await speed.write_value(ua.DataValue(ua.Variant(1.0, ua.VariantType.Float)))
        # reading is for every role
        state = client.get_node(own(ns, "BaseStateMachine.MachineState.CurrentState"))
        assert (await state.read_value()).Text == "Stopped"
    assert line.rig.rt.status()["state"]["name"] == "STOPPED"


async def none_channel(line: OpcuaLine, password: str, server_cert: bytes) -> Client:
    """A session over a None channel, the client's endpoint check skipped (``find_endpoint``
    patched by the caller)."""
    client = Client(line.url, timeout=10)
    client.application_uri = CLIENT_URI
    await client.connect_socket()
    await client.send_hello()
    await client.open_secure_channel()
    await client.create_session()
    client.security_policy.peer_certificate = server_cert  # to encrypt the password with
    await client.activate_session(username="op.olga", password=password)
    return client


@pytest.mark.asyncio(loop_scope="module")
async def test_a_channel_without_security_gets_nothing_even_when_the_client_insists(
    stopped_line: OpcuaLine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """No None endpoint is offered; a client that opens a None channel anyway (skipping its
    own endpoint check) and logs in may neither read, subscribe nor call."""
    line = stopped_line
    password = await asyncio.to_thread(line.people.add, "op.olga", "operator", "Olga Op")
    await asyncio.to_thread(line.trust_client)
    async with line.client("op.olga", password) as secured:
        endpoints = await secured.get_endpoints()
        ns = await secured.get_namespace_index(LINECTL_URI)
    assert {e.SecurityMode for e in endpoints} == {
        ua.MessageSecurityMode.Sign, ua.MessageSecurityMode.SignAndEncrypt
    }  # fmt: skip
    secure = endpoints[0]
    monkeypatch.setattr(Client, "find_endpoint", staticmethod(lambda *_: secure))
    client = await none_channel(line, password, secure.ServerCertificate)
    try:
        node = client.get_node(own(ns, "BaseStateMachine.MachineState.CurrentState"))
        with pytest.raises(BadUserAccessDenied):
            await node.read_value()
        with pytest.raises(BadUserAccessDenied):
            await client.create_subscription(50, Watch())
        execute = client.get_node(own(ns, "BaseStateMachine.MachineState.ExecuteState"))
        hold = own(ns, "BaseStateMachine.MachineState.ExecuteState.Hold")
        with pytest.raises(BadUserAccessDenied):
            await execute.call_method(hold)
    finally:
        client.disconnect_socket()
    assert line.rig.rt.status()["state"]["name"] == "STOPPED"
