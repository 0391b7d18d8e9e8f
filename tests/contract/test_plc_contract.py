"""One contract for both PLC drivers (ModbusPlc, OpcUaPlc) against the PLC simulator over sockets.

Time is driven by ticking the VirtualLine by hand; the PLC's own timers (heartbeat, acting states,
watchdog) run fast, and tests await the simulator's change notifications, never a sleep.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import AsyncIterator, Callable
from contextlib import AsyncExitStack
from dataclasses import dataclass, field
from typing import Any

import pytest

from drivers.interfaces import DeviceError, DeviceUnavailable, GateEvent, GateOutcome, Plc, Verdict
from drivers.plc import signals as sig
from drivers.plc.client import PlcClient
from drivers.plc.modbus import ModbusPlc
from drivers.plc.opcua import OpcUaPlc
from drivers.reconnect import ReconnectPolicy
from simulators.line import FaultPlan, LineLayout, Station, VirtualLine
from simulators.plc import PlcSimulator
from standards.packml import PackMLCommand, PackMLState
from tests.contract.fault_proxy import FaultProxy

GUARD = 10.0  # seconds before a stuck test fails instead of hanging


class FakeClock:
    """The drivers' backoff clock, advanced by the test."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@dataclass
class Rig:
    transport: str
    line: VirtualLine
    sim: PlcSimulator
    plc: PlcClient
    stack: AsyncExitStack
    clock: FakeClock = field(default_factory=FakeClock)

    async def tick_until_at(self, station: Station, seq: int) -> None:
        """Tick the line until pack ``seq`` stands at ``station``."""
        for _ in range(seq + self.line.layout.packer + 2):
            pack = self.line.pack_at(station)
            if pack is not None and pack.seq == seq:
                return
            await self.line.tick()
        raise AssertionError(f"pack {seq} never reached {station}")

    async def ticks(self, n: int) -> None:
        for _ in range(n):
            await self.line.tick()

    async def start_line(self) -> None:
        """Reset and Start over the driver, then wait for Execute."""
        await self.plc.command(PackMLCommand.RESET)
        await self.sim.wait_for(lambda: self.sim.state is PackMLState.IDLE)
        await self.plc.command(PackMLCommand.START)
        await self.sim.wait_for(lambda: self.sim.state is PackMLState.EXECUTE)


def make_driver(transport: str, sim: PlcSimulator, **kw: Any) -> PlcClient:
    if transport == "modbus":
        return ModbusPlc("127.0.0.1", sim.modbus_port, **kw)
    return OpcUaPlc(sim.opcua_url, **kw)


RigFactory = Callable[..., Any]


@pytest.fixture(params=["modbus", "opcua"])
async def make_rig(request: pytest.FixtureRequest) -> AsyncIterator[RigFactory]:
    transport: str = request.param
    stack = AsyncExitStack()

    async def make(faults: FaultPlan | None = None, **sim_kw: Any) -> Rig:
        line = VirtualLine(LineLayout(), faults or FaultPlan(seed=7))
        sim_kw.setdefault("heartbeat_period", 0.02)
        sim_kw.setdefault("acting_time", 0.0)
        sim = PlcSimulator(line, opcua_port=0 if transport == "opcua" else None, **sim_kw)
        await sim.start()
        stack.push_async_callback(sim.close)
        clock = FakeClock()
        policy = ReconnectPolicy("plc", initial=0.5, maximum=0.5, jitter=0.0)
        plc = make_driver(transport, sim, policy=policy, clock=clock)
        stack.push_async_callback(plc.close)
        await plc.connect()
        return Rig(transport, line, sim, plc, stack, clock)

    async with stack:
        yield make


@pytest.fixture
async def rig(make_rig: RigFactory) -> Rig:
    rig: Rig = await make_rig()
    return rig


async def test_driver_implements_the_plc_protocol(rig: Rig) -> None:
    assert isinstance(rig.plc, Plc)


async def test_heartbeats_flow_both_ways(rig: Rig) -> None:
    async with asyncio.timeout(GUARD):
        before = (await rig.plc.read_snapshot()).heartbeat
        await rig.sim.wait_for(lambda: rig.sim.value(sig.PLC_HEARTBEAT) != before)
        assert (await rig.plc.read_snapshot()).heartbeat != before
        await rig.plc.write_heartbeat(1234)
        assert rig.sim.value(sig.HOST_HEARTBEAT) == 1234
        await rig.plc.write_heartbeat(65536 + 5)  # a counter may keep counting: modulo 2**16
        assert rig.sim.value(sig.HOST_HEARTBEAT) == 5


async def test_good_verdict_written_in_time_lets_the_pack_pass(rig: Rig) -> None:
    async with asyncio.timeout(GUARD):
        await rig.tick_until_at(Station.CAMERA, 3)
        assert (await rig.plc.read_snapshot()).last_seq_camera == 3  # the camera trigger
        await rig.plc.write_verdict(3, Verdict.GOOD)
        await rig.tick_until_at(Station.GATE, 3)
        pack = rig.line.history[3]
        assert pack.rejected is False
        assert pack.verdict == Verdict.GOOD
        snap = await rig.plc.read_snapshot()
        assert snap.last_seq_gate == 3
        assert snap.packs_passed == 1
        assert GateEvent(3, GateOutcome.PASSED) in await rig.plc.gate_events()


async def test_pack_without_verdict_is_rejected(rig: Rig) -> None:
    async with asyncio.timeout(GUARD):
        await rig.tick_until_at(Station.GATE, 1)
        pack = rig.line.history[1]
        assert pack.rejected is True
        assert pack.reject_confirmed is True
        assert await rig.plc.gate_events() == [GateEvent(1, GateOutcome.REJECTED_CONFIRMED)]


async def test_late_verdict_is_a_reject(rig: Rig) -> None:
    async with asyncio.timeout(GUARD):
        await rig.tick_until_at(Station.GATE, 2)
        await rig.plc.write_verdict(2, Verdict.GOOD)  # the pack is already at the gate
        await rig.ticks(3)
        assert rig.line.history[2].rejected is True
        events = await rig.plc.gate_events()
        assert [e for e in events if e.seq == 2] == [GateEvent(2, GateOutcome.REJECTED_CONFIRMED)]
        # the late GOOD sits in the slot of seq 2; the next pack using that slot is not fooled
        later = 2 + sig.VERDICT_SLOTS
        await rig.tick_until_at(Station.GATE, later)
        assert rig.line.history[later].rejected is True
        assert (await rig.plc.read_snapshot()).packs_passed == 0


async def test_verdict_for_an_earlier_lap_of_the_slot_is_a_reject(rig: Rig) -> None:
    async with asyncio.timeout(GUARD):
        seq = 1 + sig.VERDICT_SLOTS
        await rig.plc.write_verdict(1, Verdict.GOOD)  # same slot, one lap earlier
        await rig.tick_until_at(Station.GATE, seq)
        assert rig.line.history[1].rejected is False
        assert rig.line.history[seq].rejected is True


async def test_reject_verdict_is_rejected_and_confirmed(rig: Rig) -> None:
    async with asyncio.timeout(GUARD):
        await rig.tick_until_at(Station.CAMERA, 1)
        await rig.plc.write_verdict(1, Verdict.REJECT, reason=4)
        slot = sig.verdict_slot(1)
        assert rig.sim.value(slot.reason) == 4
        await rig.tick_until_at(Station.GATE, 1)
        pack = rig.line.history[1]
        assert (pack.rejected, pack.reject_confirmed, pack.verdict) == (True, True, Verdict.REJECT)
        assert await rig.plc.gate_events() == [GateEvent(1, GateOutcome.REJECTED_CONFIRMED)]
        snap = await rig.plc.read_snapshot()
        assert (snap.packs_rejected, snap.fault) == (1, 0)


async def test_unconfirmed_reject_reports_the_event_faults_and_holds_the_line(
    make_rig: RigFactory,
) -> None:
    rig: Rig = await make_rig(FaultPlan(seed=1, gate_confirm_failure_rate=1.0))
    async with asyncio.timeout(GUARD):
        await rig.start_line()
        await rig.tick_until_at(Station.GATE, 1)
        assert rig.line.history[1].reject_confirmed is False
        assert await rig.plc.gate_events() == [GateEvent(1, GateOutcome.REJECTED_UNCONFIRMED)]
        snap = await rig.plc.read_snapshot()
        assert snap.fault & sig.Fault.REJECT_UNCONFIRMED
        assert snap.packs_rejected == 1
        (unconfirmed,) = await rig.plc.read((sig.PACKS_UNCONFIRMED,))
        assert unconfirmed == 1
        await rig.sim.wait_for(lambda: rig.sim.state is PackMLState.HELD)
        assert (await rig.plc.read_snapshot()).line_state == PackMLState.HELD
        await rig.plc.command(PackMLCommand.UNHOLD)  # the operator checked downstream
        await rig.sim.wait_for(lambda: rig.sim.state is PackMLState.EXECUTE)
        assert (await rig.plc.read_snapshot()).fault == 0


async def test_start_moves_the_line_to_execute_via_starting(rig: Rig) -> None:
    async with asyncio.timeout(GUARD):
        assert (await rig.plc.read_snapshot()).line_state == PackMLState.STOPPED
        await rig.start_line()
        assert rig.sim.state_history == [
            PackMLState.STOPPED,
            PackMLState.RESETTING,
            PackMLState.IDLE,
            PackMLState.STARTING,
            PackMLState.EXECUTE,
        ]
        assert (await rig.plc.read_snapshot()).line_state == PackMLState.EXECUTE
        ack, result = await rig.plc.read((sig.COMMAND_ACK, sig.COMMAND_RESULT))
        assert ack == rig.sim.value(sig.COMMAND_COUNTER) and ack > 0
        assert result == sig.CommandResult.ACCEPTED


async def test_a_command_not_allowed_in_the_state_is_refused(rig: Rig) -> None:
    async with asyncio.timeout(GUARD):
        with pytest.raises(DeviceError, match=r"refused START \(2\).*STOPPED \(2\)"):
            await rig.plc.command(PackMLCommand.START)
        assert rig.sim.state is PackMLState.STOPPED
        with pytest.raises(ValueError, match="not a PackML command"):
            await rig.plc.command(42)


async def test_host_heartbeat_stall_faults_and_holds_the_line(rig: Rig) -> None:
    async with asyncio.timeout(GUARD):
        await rig.start_line()
        await rig.plc.write((sig.HEARTBEAT_TIMEOUT,), (sig.MIN_HEARTBEAT_TIMEOUT_MS,))
        await rig.plc.write_heartbeat(1)  # the first change arms the watchdog
        assert rig.sim.value(sig.FAULT) == 0
        await rig.sim.wait_for(lambda: rig.sim.state is PackMLState.HELD)
        snap = await rig.plc.read_snapshot()
        assert snap.fault & sig.Fault.HOST_HEARTBEAT_LOST
        assert snap.line_state == PackMLState.HELD


async def test_dropped_connection_fails_then_reconnects_after_restart(rig: Rig) -> None:
    async with asyncio.timeout(GUARD):
        await rig.plc.write_verdict(9, Verdict.GOOD)
        modbus_port, opcua_port = rig.sim.modbus_port, rig.sim.opcua_port
        await rig.sim.close()
        with pytest.raises(DeviceUnavailable):
            await rig.plc.read_snapshot()
        with pytest.raises(DeviceUnavailable, match="next attempt in"):
            await rig.plc.read_snapshot()  # inside the backoff: fails fast, no attempt
        restarted = PlcSimulator(
            rig.line, port=modbus_port, opcua_port=opcua_port, heartbeat_period=0.02
        )
        await restarted.start()
        rig.stack.push_async_callback(restarted.close)
        rig.clock.now += 1.0  # past the 0.5 s backoff
        snap = await rig.plc.read_snapshot()
        assert snap.line_state == PackMLState.STOPPED
        await rig.plc.write_verdict(10, Verdict.GOOD)
        assert restarted.value(sig.verdict_slot(10).seq) == 10


async def test_connect_to_nothing_is_unavailable_and_backs_off(rig: Rig) -> None:
    clock = FakeClock()
    policy = ReconnectPolicy("plc", initial=0.5, maximum=0.5, jitter=0.0)
    port = rig.sim.modbus_port if rig.transport == "modbus" else rig.sim.opcua_port
    await rig.sim.close()  # nothing listens there now
    plc = (
        ModbusPlc("127.0.0.1", port, policy=policy, clock=clock)
        if rig.transport == "modbus"
        else OpcUaPlc(f"opc.tcp://127.0.0.1:{port}", policy=policy, clock=clock)
    )
    rig.stack.push_async_callback(plc.close)
    async with asyncio.timeout(GUARD):
        with pytest.raises(DeviceUnavailable):
            await plc.connect()
        with pytest.raises(DeviceUnavailable, match=r"next attempt in 0\.50 s"):
            await plc.read_snapshot()
        clock.now += 1.0
        with pytest.raises(DeviceUnavailable) as tried:
            await plc.read_snapshot()
        assert "next attempt" not in str(tried.value)
        assert policy.failures == 2


async def test_close_twice_is_safe_and_later_requests_fail(rig: Rig) -> None:
    await rig.plc.close()
    await rig.plc.close()
    with pytest.raises(DeviceUnavailable, match="closed"):
        await rig.plc.write_verdict(1, Verdict.GOOD)
    with pytest.raises(DeviceUnavailable, match="closed"):
        await rig.plc.connect()


async def test_a_plc_with_another_signal_map_is_refused(rig: Rig) -> None:
    await rig.sim.force(sig.MAP_VERSION_SIGNAL, sig.MAP_VERSION + 1)
    plc = make_driver(rig.transport, rig.sim)
    rig.stack.push_async_callback(plc.close)
    async with asyncio.timeout(GUARD):
        with pytest.raises(DeviceError, match="signal map is version 2") as refused:
            await plc.connect()
        assert not isinstance(refused.value, DeviceUnavailable)
        # the requests in the backoff that follows still name the cause, not only "not connected"
        with pytest.raises(DeviceUnavailable, match="next attempt") as waiting:
            await plc.read_snapshot()
        assert "signal map is version 2" in str(waiting.value)


async def test_gate_events_lost_to_an_overrun_are_counted(rig: Rig) -> None:
    async with asyncio.timeout(GUARD):
        assert await rig.plc.gate_events() == []
        await rig.tick_until_at(Station.GATE, sig.EVENT_SLOTS + 5)
        events = await rig.plc.gate_events()
        assert [e.seq for e in events] == list(range(6, sig.EVENT_SLOTS + 6))
        assert rig.plc.events_lost == 5
        await rig.ticks(2)
        assert [e.seq for e in await rig.plc.gate_events()] == [
            sig.EVENT_SLOTS + 6,
            sig.EVENT_SLOTS + 7,
        ]


async def test_outcomes_and_counters_match_the_lines_ground_truth(rig: Rig) -> None:
    """Seeded mix of GOOD, REJECT, missing and late verdicts over 40 packs."""
    rng = random.Random(2024)
    plan = {seq: rng.choice(["good", "reject", "none", "late"]) for seq in range(1, 41)}
    expected_pass = {seq for seq, what in plan.items() if what == "good"}
    seen: list[GateEvent] = []
    async with asyncio.timeout(GUARD * 2):
        for seq in range(1, 41):
            await rig.tick_until_at(Station.CAMERA, seq)
            if plan[seq] == "good":
                await rig.plc.write_verdict(seq, Verdict.GOOD)
            elif plan[seq] == "reject":
                await rig.plc.write_verdict(seq, Verdict.REJECT, reason=3)
            gate = rig.line.pack_at(Station.GATE)
            if gate is not None and plan.get(gate.seq) == "late":
                await rig.plc.write_verdict(gate.seq, Verdict.GOOD)
            seen += await rig.plc.gate_events()
        await rig.tick_until_at(Station.GATE, 40)
        seen += await rig.plc.gate_events()
    assert [e.seq for e in seen] == list(range(1, 41))
    assert {e.seq for e in seen if e.outcome is GateOutcome.PASSED} == expected_pass
    assert {s for s in range(1, 41) if rig.line.history[s].rejected is False} == expected_pass
    snap = await rig.plc.read_snapshot()
    assert snap.packs_passed == len(expected_pass)
    assert snap.packs_rejected == 40 - len(expected_pass)
    assert snap.packs_in == rig.line.next_seq - 1


# --- Modbus through the FaultProxy: what pymodbus's framer does with wire faults ------------------


@dataclass
class ProxiedModbus:
    sim: PlcSimulator
    proxy: FaultProxy
    plc: ModbusPlc
    clock: FakeClock


@pytest.fixture
async def proxied() -> AsyncIterator[ProxiedModbus]:
    async with AsyncExitStack() as stack:
        sim = PlcSimulator(VirtualLine(LineLayout()), opcua_port=None, heartbeat_period=0.02)
        await sim.start()
        stack.push_async_callback(sim.close)
        proxy = await stack.enter_async_context(FaultProxy("127.0.0.1", sim.modbus_port))
        clock = FakeClock()
        policy = ReconnectPolicy("plc", initial=0.5, maximum=0.5, jitter=0.0)
        plc = ModbusPlc("127.0.0.1", proxy.port, timeout=0.3, policy=policy, clock=clock)
        stack.push_async_callback(plc.close)
        await plc.connect()
        yield ProxiedModbus(sim, proxy, plc, clock)


async def test_modbus_replies_split_into_single_bytes_still_decode(proxied: ProxiedModbus) -> None:
    proxied.proxy.plan.single_bytes = True
    async with asyncio.timeout(GUARD):
        await proxied.plc.write_verdict(70000, Verdict.REJECT, reason=9)
        slot = sig.verdict_slot(70000)
        assert [proxied.sim.value(s) for s in slot.signals] == [2, 9, 70000]
        await proxied.sim.force(sig.PACKS_IN, 0x12345678)
        snap = await proxied.plc.read_snapshot()
        assert (snap.line_state, snap.packs_in) == (PackMLState.STOPPED, 0x12345678)
        assert await proxied.plc.gate_events() == []


@pytest.mark.parametrize(
    "garbage",
    [
        pytest.param(b"\xde\xad\xbe\xef", id="not-mbap"),  # pymodbus waits: the request times out
        pytest.param(b"\x00\x00\x00\x00\x00\x02\x01\x04", id="mbap-shaped"),  # pymodbus raises
    ],
)
async def test_modbus_garbage_before_a_reply_fails_that_request_then_the_link_recovers(
    proxied: ProxiedModbus, garbage: bytes
) -> None:
    async with asyncio.timeout(GUARD):
        proxied.proxy.plan.garbage = garbage
        with pytest.raises(DeviceUnavailable):
            await proxied.plc.read_snapshot()
        proxied.clock.now += 1.0
        snap = await proxied.plc.read_snapshot()
        assert snap.line_state == PackMLState.STOPPED
        assert proxied.proxy.connections == 2  # the driver dropped the desynchronised stream


async def test_modbus_connection_cut_mid_reply_fails_at_once_and_reconnects(
    proxied: ProxiedModbus,
) -> None:
    proxied.plc.timeout = 3.0  # a failure by timeout would take this long
    loop = asyncio.get_running_loop()
    async with asyncio.timeout(GUARD):
        proxied.proxy.plan.drop_after = 5
        started = loop.time()
        with pytest.raises(DeviceUnavailable, match="connection lost"):
            await proxied.plc.read_snapshot()
        assert loop.time() - started < 1.5
        proxied.clock.now += 1.0
        await proxied.plc.write_verdict(5, Verdict.GOOD)
        assert proxied.sim.value(sig.verdict_slot(5).seq) == 5
        assert proxied.proxy.connections == 2


async def test_modbus_reply_that_never_comes_fails_after_the_timeout_and_drops_the_link(
    proxied: ProxiedModbus,
) -> None:
    # pymodbus's own reply timeout is off: the driver's timeout alone must end the request
    loop = asyncio.get_running_loop()
    async with asyncio.timeout(GUARD):
        proxied.proxy.plan.join_replies = 1_000_000  # the PLC takes requests and never answers
        started = loop.time()
        with pytest.raises(DeviceUnavailable, match=r"no reply within 0\.3 s"):
            await proxied.plc.write_verdict(7, Verdict.GOOD)
        assert 0.25 <= loop.time() - started < 1.5
        proxied.proxy.plan.join_replies = 1
        proxied.clock.now += 1.0
        await proxied.plc.write_verdict(8, Verdict.GOOD)
        assert proxied.sim.value(sig.verdict_slot(8).seq) == 8
        assert proxied.proxy.connections == 2  # the silent link was dropped, not reused
