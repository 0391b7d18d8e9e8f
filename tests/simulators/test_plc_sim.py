"""The PLC simulator as a PLC: the conveyor moves only in Execute; a batch runs out to Complete."""

from __future__ import annotations

import asyncio

from drivers.plc import signals as sig
from simulators.line import FaultPlan, LineLayout, VirtualLine
from simulators.plc import PlcSimulator
from standards.packml import PackMLCommand, PackMLState

GUARD = 10.0


def _fast_line() -> VirtualLine:
    return VirtualLine(LineLayout(packs_per_minute=6000), FaultPlan(seed=5))


async def _scans(sim: PlcSimulator, n: int) -> None:
    """Let the PLC's scan run ``n`` more times."""
    target = (sim.value(sig.PLC_HEARTBEAT) + n) & 0xFFFF
    await sim.wait_for(lambda: sim.value(sig.PLC_HEARTBEAT) == target)


async def test_the_conveyor_moves_only_in_execute() -> None:
    line = _fast_line()
    sim = PlcSimulator(line, opcua_port=None, drive_line=True, heartbeat_period=0.01, acting_time=0)
    async with asyncio.timeout(GUARD), sim:
        await _scans(sim, 5)
        assert line.next_seq == 1  # Stopped: no pack fed
        assert sim.command(PackMLCommand.RESET) is sig.CommandResult.ACCEPTED
        await sim.wait_for(lambda: sim.state is PackMLState.IDLE)
        sim.command(PackMLCommand.START)
        await sim.wait_for(lambda: sim.value(sig.PACKS_IN) >= 5)
        assert sim.command(PackMLCommand.HOLD) is sig.CommandResult.ACCEPTED
        await sim.wait_for(lambda: sim.state is PackMLState.HELD)
        fed = line.next_seq
        await _scans(sim, 5)
        assert line.next_seq == fed
        assert sim.command(PackMLCommand.UNHOLD) is sig.CommandResult.ACCEPTED
        await sim.wait_for(lambda: line.next_seq > fed)


async def test_a_batch_runs_out_to_complete_and_reset_makes_the_line_ready() -> None:
    line = _fast_line()
    line.packs_limit = 5
    sim = PlcSimulator(line, opcua_port=None, drive_line=True, heartbeat_period=0.01, acting_time=0)
    async with asyncio.timeout(GUARD), sim:
        sim.command(PackMLCommand.RESET)
        await sim.wait_for(lambda: sim.state is PackMLState.IDLE)
        sim.command(PackMLCommand.START)
        await sim.wait_for(lambda: sim.state is PackMLState.COMPLETE)
        assert sim.value(sig.PACKS_IN) == 5
        assert sim.value(sig.PACKS_REJECTED) == 5  # nobody wrote a verdict
        assert PackMLState.COMPLETING in sim.state_history
        assert sim.command(PackMLCommand.START) is sig.CommandResult.NOT_ALLOWED_IN_STATE
        sim.command(PackMLCommand.RESET)
        await sim.wait_for(lambda: sim.state is PackMLState.IDLE)


async def test_close_twice_detaches_from_the_line() -> None:
    line = _fast_line()
    sim = PlcSimulator(line, opcua_port=None)
    await sim.start()
    await sim.close()
    await sim.close()
    await line.tick()
    assert sim.value(sig.PACKS_IN) == 0
    assert all(not handlers for handlers in line.handlers.values())
