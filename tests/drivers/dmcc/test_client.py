"""DmccReader against the DMCC simulator (and a scripted device) over real sockets."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from drivers.dmcc.client import DmccReader
from drivers.dmcc.codec import Command, DmccDevice, Response
from drivers.interfaces import DeviceError, DeviceUnavailable
from drivers.reader_codec import NEED_DATA
from simulators.line import LineLayout, Station, VirtualLine
from simulators.reader_dmcc import DmccReaderSimulator
from tests.drivers.scripted_device import scripted_device

DATA = "0109506000134352\x1d21SERIAL0001"


@pytest.fixture
async def line() -> VirtualLine:
    line = VirtualLine(LineLayout())
    line.on(Station.PRINTER, lambda pack: setattr(pack, "printed", DATA))
    for _ in range(4):  # pack 1 reaches the camera
        await line.tick()
    return line


@pytest.fixture
async def sim(line: VirtualLine) -> AsyncIterator[DmccReaderSimulator]:
    sim = DmccReaderSimulator(line)
    await sim.start()
    async with asyncio.timeout(10):
        yield sim
    await sim.close()


@pytest.fixture
async def reader(sim: DmccReaderSimulator) -> AsyncIterator[DmccReader]:
    reader = DmccReader("127.0.0.1", sim.port, read_timeout=0.3)
    yield reader
    await reader.close()


async def test_a_trigger_refused_as_reader_unavailable_is_device_unavailable(
    sim: DmccReaderSimulator, reader: DmccReader
) -> None:
    sim.faults.refuse_trigger = 105
    with pytest.raises(DeviceUnavailable, match=r"status 105 \(reader unavailable\)"):
        await reader.read()


async def test_a_trigger_refused_for_the_reader_state_is_a_device_error_on_a_kept_link(
    sim: DmccReaderSimulator, reader: DmccReader
) -> None:
    sim.faults.refuse_trigger = 104
    with pytest.raises(DeviceError, match="parameter rejected") as refused:
        await reader.read()
    assert not isinstance(refused.value, DeviceUnavailable)
    sim.faults.refuse_trigger = None
    assert (await reader.read()).text == DATA
    assert sim.connections == 1


async def test_a_hung_reader_fails_the_read_in_time_and_the_next_read_reconnects(
    sim: DmccReaderSimulator, reader: DmccReader
) -> None:
    await reader.connect()
    sim.faults.silent = True
    with pytest.raises(DeviceUnavailable, match=r"no reply within 0\.3 s"):
        await reader.read()
    sim.faults.silent = False
    assert (await reader.read()).text == DATA
    assert sim.connections == 2


async def test_without_appended_grades_the_read_has_no_grade(sim: DmccReaderSimulator) -> None:
    sim.grade_separator = None
    reader = DmccReader("127.0.0.1", sim.port, grade_separator=None)
    try:
        result = await reader.read()
    finally:
        await reader.close()
    assert (result.text, result.grade, result.symbology) == (DATA, None, "gs1-datamatrix")


async def test_replies_to_other_command_ids_are_not_taken_for_the_trigger() -> None:
    async def device(r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
        codec = DmccDevice(extended=True)
        while data := await r.read(1024):
            codec.receive_data(data)
            while (command := codec.next_event()) is not NEED_DATA:
                assert isinstance(command, Command)
                if command.text.startswith("GET"):
                    w.write(codec.send(Response(0, "1", command.command_id)))
                elif command.text == "TRIGGER ON":
                    w.write(codec.send(Response(104, "", 999_999)))  # someone else's refusal
                    w.write(codec.send(Response(0, "", command.command_id)))
                    w.write(codec.send(Response(1, "]d2" + DATA + ",B")))

    async with scripted_device(device) as port:
        reader = DmccReader("127.0.0.1", port)
        try:
            async with asyncio.timeout(10):
                result = await reader.read(3)
        finally:
            await reader.close()
    assert (result.text, result.grade, result.seq) == (DATA, "B", 3)


async def test_a_reader_that_stays_in_silent_mode_is_refused() -> None:
    async def device(r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
        codec = DmccDevice(extended=True)
        while data := await r.read(1024):
            codec.receive_data(data)
            while (command := codec.next_event()) is not NEED_DATA:
                assert isinstance(command, Command)
                if command.text.startswith("GET"):
                    w.write(codec.send(Response(0, "0", command.command_id)))

    async with scripted_device(device) as port:
        reader = DmccReader("127.0.0.1", port)
        try:
            async with asyncio.timeout(10):
                with pytest.raises(DeviceError, match="response mode '0', expected 1"):
                    await reader.read()
        finally:
            await reader.close()
