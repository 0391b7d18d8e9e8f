"""The PLC simulator serves exactly the signal map, identically over Modbus TCP and OPC UA."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest
from asyncua import Client, ua
from pymodbus.client import AsyncModbusTcpClient

from drivers.plc import signals as sig
from simulators.line import FaultPlan, LineLayout, VirtualLine
from simulators.plc import PlcSimulator
from simulators.plc_servers import register_runs

GUARD = 15.0


@pytest.fixture
async def sim() -> AsyncIterator[PlcSimulator]:
    # a PLC heartbeat that does not tick during the test, so both reads see the same values
    async with PlcSimulator(VirtualLine(LineLayout(), FaultPlan(seed=3)), heartbeat_period=60) as s:
        yield s


@pytest.fixture
async def modbus(sim: PlcSimulator) -> AsyncIterator[AsyncModbusTcpClient]:
    client = AsyncModbusTcpClient("127.0.0.1", port=sim.modbus_port, timeout=2)
    assert await client.connect()
    yield client
    client.close()


@pytest.fixture
async def opcua(sim: PlcSimulator) -> AsyncIterator[Client]:
    client = Client(sim.opcua_url, timeout=2)
    async with client:
        yield client


async def _modbus_values(client: AsyncModbusTcpClient) -> dict[sig.Signal, int]:
    registers: dict[tuple[sig.Area, int], int] = {}
    for area in sig.Area:
        for first, count in register_runs(area):
            for start in range(first, first + count, sig.MAX_MODBUS_READ):
                n = min(sig.MAX_MODBUS_READ, first + count - start)
                if area is sig.Area.INPUT:
                    reply = await client.read_input_registers(start, count=n, device_id=1)
                else:
                    reply = await client.read_holding_registers(start, count=n, device_id=1)
                assert not reply.isError(), (area, start, reply)
                registers.update({(area, start + i): r for i, r in enumerate(reply.registers)})
    return {
        s: s.decode([registers[(s.area, a)] for a in range(s.address, s.end)]) for s in sig.SIGNALS
    }


async def _browse(client: Client) -> dict[str, Any]:
    """Every variable under Objects/LinePlc: string NodeId -> Node."""
    idx = await client.get_namespace_index(sig.OPCUA_NAMESPACE)
    root = client.get_node(ua.NodeId(sig.OPCUA_ROOT, idx))
    found: dict[str, Any] = {}
    pending = [root]
    while pending:
        node = pending.pop()
        for child in await node.get_children():
            if await child.read_node_class() == ua.NodeClass.Variable:
                found[child.nodeid.Identifier] = child
            else:
                pending.append(child)
    return found


async def test_every_signal_is_served_on_both_transports_with_the_same_value(
    sim: PlcSimulator, modbus: AsyncModbusTcpClient, opcua: Client
) -> None:
    async with asyncio.timeout(GUARD):
        for i, s in enumerate(sig.SIGNALS):  # a distinct value in every signal
            sim.memory.set(s, (i * 40503 + 17) % (s.kind.maximum + 1))
        await sim.force(sig.FAULT, 3)  # publishes everything set above
        over_modbus = await _modbus_values(modbus)
        nodes = await _browse(opcua)
        assert set(nodes) == {s.node_id for s in sig.SIGNALS}
        values = await opcua.read_values([nodes[s.node_id] for s in sig.SIGNALS])
        for s, value in zip(sig.SIGNALS, values, strict=True):
            assert over_modbus[s] == value == sim.value(s), s.name
        for s in sig.SIGNALS:
            node = nodes[s.node_id]
            variant = (await node.read_data_value()).Value
            assert variant.VariantType.name == s.kind.opcua_type, s.name
            assert (await node.get_path(as_string=True))[-len(s.browse_path) :] == [
                f"{node.nodeid.NamespaceIndex}:{name}" for name in s.browse_path
            ]


async def test_registers_outside_the_map_are_illegal_data_addresses(
    modbus: AsyncModbusTcpClient,
) -> None:
    async with asyncio.timeout(GUARD):
        gap = sig.COMMAND_RESULT.end  # between the map info and the status block
        reply = await modbus.read_input_registers(gap, count=1, device_id=1)
        assert reply.isError() and reply.exception_code == 2
        reply = await modbus.write_registers(sig.COMMAND_COUNTER.end, [1], device_id=1)
        assert reply.isError() and reply.exception_code == 2
        end = sig.AREA_SIZE[sig.Area.HOLDING]
        reply = await modbus.read_holding_registers(end - 1, count=2, device_id=1)
        assert reply.isError() and reply.exception_code == 2


async def test_coils_and_discrete_inputs_are_refused_because_the_map_has_none(
    modbus: AsyncModbusTcpClient, sim: PlcSimulator
) -> None:
    before = {s: sim.value(s) for s in sig.SIGNALS}
    async with asyncio.timeout(GUARD):
        replies = [
            await modbus.write_coil(0, True, device_id=1),
            await modbus.write_coils(0, [True, True], device_id=1),
            await modbus.read_coils(0, count=1, device_id=1),
            await modbus.read_discrete_inputs(0, count=1, device_id=1),
        ]
    assert [(r.isError(), r.exception_code) for r in replies] == [(True, 2)] * 4
    assert {s: sim.value(s) for s in sig.SIGNALS} == before


async def test_plc_written_nodes_refuse_host_writes(opcua: Client, sim: PlcSimulator) -> None:
    async with asyncio.timeout(GUARD):
        idx = await opcua.get_namespace_index(sig.OPCUA_NAMESPACE)
        state = opcua.get_node(ua.NodeId(sig.LINE_STATE.node_id, idx))
        with pytest.raises(ua.UaStatusCodeError):
            await state.write_value(ua.Variant(6, ua.VariantType.UInt16))
        assert sim.value(sig.LINE_STATE) == 2


async def test_a_write_over_one_transport_is_read_over_the_other(
    sim: PlcSimulator, modbus: AsyncModbusTcpClient, opcua: Client
) -> None:
    async with asyncio.timeout(GUARD):
        idx = await opcua.get_namespace_index(sig.OPCUA_NAMESPACE)
        beat = opcua.get_node(ua.NodeId(sig.HOST_HEARTBEAT.node_id, idx))
        await beat.write_value(ua.Variant(77, ua.VariantType.UInt16))
        reply = await modbus.read_holding_registers(sig.HOST_HEARTBEAT.address, count=1)
        assert reply.registers == [77]
        slot = sig.verdict_slot(123456)
        words = sig.encode_values(slot.signals, (1, 5, 123456))
        assert not (await modbus.write_registers(slot.verdict.address, words)).isError()
        nodes = [opcua.get_node(ua.NodeId(s.node_id, idx)) for s in slot.signals]
        assert await opcua.read_values(nodes) == [1, 5, 123456]


async def test_an_opcua_subscription_sees_the_plc_heartbeat_change() -> None:
    changes: asyncio.Queue[int] = asyncio.Queue()

    class Handler:
        def datachange_notification(self, node: Any, value: int, data: Any) -> None:
            changes.put_nowait(value)

    line = VirtualLine(LineLayout())
    async with (
        asyncio.timeout(GUARD),
        PlcSimulator(line, heartbeat_period=0.02) as fast,
        Client(fast.opcua_url, timeout=2) as client,
    ):
        idx = await client.get_namespace_index(sig.OPCUA_NAMESPACE)
        sub = await client.create_subscription(20, Handler())
        await sub.subscribe_data_change(client.get_node(ua.NodeId(sig.PLC_HEARTBEAT.node_id, idx)))
        first = await changes.get()
        while (value := await changes.get()) == first:
            pass
        assert value != first
        await sub.delete()
