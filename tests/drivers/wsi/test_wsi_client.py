"""WsiPrinter against the simulator: refusals, message select, user fields, print on/off."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from drivers.interfaces import ClearablePrinter, DeviceError, PrintJob
from drivers.wsi.client import WsiPrinter
from drivers.wsi.codec import WsiCommandSet
from simulators.line import LineLayout, VirtualLine
from simulators.printer_wsi import WsiPrinterSimulator

GS = "\x1d"
JOB = PrintJob(seq=1, data="0109506000134352" + "10LOT" + GS + "21SN1", hri=("LOT", "SN1"))


@pytest.fixture
async def sim() -> AsyncIterator[WsiPrinterSimulator]:
    simulator = WsiPrinterSimulator(VirtualLine(LineLayout()))
    await simulator.start()
    yield simulator
    await simulator.close()


async def test_connect_selects_the_message_and_load_fills_fields_code_last(
    sim: WsiPrinterSimulator,
) -> None:
    printer = WsiPrinter.tcp("127.0.0.1", sim.port, message="SERIAL-DM")
    try:
        async with asyncio.timeout(5):
            await printer.connect()
            await printer.load(JOB)
            status = await printer.status()
        assert sim.message == "SERIAL-DM"
        assert [c.code for c in sim.received[-5:-2]] == ["U", "U", "U"]
        assert sim.received[-3].data == b"CODE\n" + JOB.data.encode()
        assert sim.fields == {"HRI1": "LOT", "HRI2": "SN1", "CODE": JOB.data}
        assert status.jobs_queued == 1 and status.print_count == 0
        await sim.line.tick()
        assert (await printer.status()).print_count == 1
        assert sim.line.history[1].printed == JOB.data
    finally:
        await printer.close()


async def test_a_refused_packet_is_a_device_error_and_the_link_stays_up(
    sim: WsiPrinterSimulator,
) -> None:
    # the printer does not know "Q9": it answers !XX, which must not look like a lost link
    printer = WsiPrinter.tcp("127.0.0.1", sim.port, commands=WsiCommandSet(print_on="Q9"))
    try:
        async with asyncio.timeout(5):
            with pytest.raises(DeviceError, match="refused 'Q9'"):
                await printer.set_printing(True)
            assert printer.link.connected
            assert (await printer.status()).ready
    finally:
        await printer.close()


async def test_print_off_stops_marking_until_switched_on(sim: WsiPrinterSimulator) -> None:
    printer = WsiPrinter.tcp("127.0.0.1", sim.port)
    try:
        async with asyncio.timeout(5):
            await printer.set_printing(False)
            await printer.load(JOB)
            await sim.line.tick()
            assert (await printer.print_count()) == 0
            await printer.set_printing(True)
            await sim.line.tick()
            assert (await printer.print_count()) == 1
    finally:
        await printer.close()


async def test_more_hri_lines_than_fields_is_refused_before_sending(
    sim: WsiPrinterSimulator,
) -> None:
    printer = WsiPrinter.tcp("127.0.0.1", sim.port, hri_fields=("HRI1",))
    try:
        with pytest.raises(ValueError, match="2 HRI lines"):
            await printer.load(JOB)
        assert sim.received == []
    finally:
        await printer.close()


async def test_wsi_offers_no_clear_because_it_cannot_cancel_queued_prints() -> None:
    printer = WsiPrinter.tcp("127.0.0.1", 1)
    assert not isinstance(printer, ClearablePrinter)
    assert not hasattr(printer, "clear")
    await printer.close()
