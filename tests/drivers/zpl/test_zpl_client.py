"""ZplPrinter against the simulator: reconnect backoff, silent ~HS, odometer fallback."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator

import pytest

from drivers.interfaces import DeviceUnavailable, PrintJob
from drivers.reconnect import ReconnectPolicy
from drivers.zpl.client import ZplPrinter
from simulators.line import LineLayout, VirtualLine
from simulators.printer_zpl import ZplPrinterSimulator

JOB = PrintJob(seq=1, data="0109506000134352" + "10LOT" + "\x1d" + "21SN1")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@pytest.fixture
async def sim() -> AsyncIterator[ZplPrinterSimulator]:
    simulator = ZplPrinterSimulator(VirtualLine(LineLayout()))
    await simulator.start()
    yield simulator
    await simulator.close()


async def test_refused_connection_backs_off_then_connects_when_the_printer_appears() -> None:
    port = free_port()
    policy = ReconnectPolicy("zpl", initial=0.05, maximum=0.2)
    printer = ZplPrinter("127.0.0.1", port, policy=policy, reply_timeout=1.0)
    with pytest.raises(DeviceUnavailable, match="cannot connect"):
        await printer.status()
    with pytest.raises(DeviceUnavailable, match="next attempt in"):
        await printer.status()  # inside the backoff: no new attempt, no storm
    assert policy.failures == 1
    simulator = ZplPrinterSimulator(VirtualLine(LineLayout()), port=port)
    await simulator.start()
    try:
        async with asyncio.timeout(5):
            await printer.wait_connected()
            status = await printer.status()
        assert status.ready and policy.failures == 0
    finally:
        await printer.close()
        await simulator.close()


async def test_silent_host_status_while_head_open_is_reported_as_unavailable(
    sim: ZplPrinterSimulator,
) -> None:
    sim.silent_when_faulted = True
    sim.set_fault(head_open=True)
    printer = ZplPrinter("127.0.0.1", sim.port, reply_timeout=0.2)
    try:
        with pytest.raises(DeviceUnavailable, match="no ~HS reply"):
            await printer.status()
        sim.set_fault(head_open=False)
        assert (await printer.status()).ready
    finally:
        await printer.close()


async def test_without_the_odometer_the_count_is_what_left_the_buffer(
    sim: ZplPrinterSimulator,
) -> None:
    sim.odometer_supported = False
    printer = ZplPrinter("127.0.0.1", sim.port)
    try:
        for _ in range(3):
            await printer.load(JOB)
        async with asyncio.timeout(5):
            await sim.engine.wait_queued(3)
        await sim.line.tick()
        status = await printer.status()
        assert (status.print_count, status.jobs_queued) == (1, 2)
    finally:
        await printer.close()


async def test_load_refuses_a_job_zpl_cannot_express_before_sending(
    sim: ZplPrinterSimulator,
) -> None:
    printer = ZplPrinter("127.0.0.1", sim.port)
    try:
        with pytest.raises(ValueError, match="symbology"):
            await printer.load(PrintJob(seq=1, data="0109506000134352", symbology="pdf417"))
        assert printer.loaded == 0
    finally:
        await printer.close()


async def test_clear_cancels_every_queued_format(sim: ZplPrinterSimulator) -> None:
    printer = ZplPrinter("127.0.0.1", sim.port)
    try:
        for _ in range(4):
            await printer.load(JOB)
        async with asyncio.timeout(5):
            await sim.engine.wait_queued(4)
            await printer.clear()
            status = await printer.status()
        assert len(sim.engine.queue) == 0
        assert status.jobs_queued == 0 and printer.cancelled == 4
        await printer.clear()  # an empty queue clears too
        assert printer.cancelled == 4
    finally:
        await printer.close()


async def test_without_the_odometer_cancelled_formats_do_not_count_as_printed(
    sim: ZplPrinterSimulator,
) -> None:
    sim.odometer_supported = False
    printer = ZplPrinter("127.0.0.1", sim.port)
    try:
        for _ in range(3):
            await printer.load(JOB)
        async with asyncio.timeout(5):
            await sim.engine.wait_queued(3)
            await sim.line.tick()  # one pack takes one format
            await printer.clear()
            status = await printer.status()
        assert sim.engine.count == 1
        assert status.print_count == 1
    finally:
        await printer.close()
