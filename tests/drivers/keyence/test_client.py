"""KeyenceReader against the SR simulator (and a scripted device) over real sockets."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from drivers.interfaces import DeviceError, DeviceUnavailable
from drivers.keyence.client import KeyenceReader
from simulators.line import LineLayout, Station, VirtualLine
from simulators.reader_keyence import KeyenceReaderSimulator
from tests.drivers.scripted_device import scripted_device

DATA = "0109506000134352\x1d21SER:IAL01"  # ':' is in the GS1 character set


@pytest.fixture
async def line() -> VirtualLine:
    line = VirtualLine(LineLayout())
    line.on(Station.PRINTER, lambda pack: setattr(pack, "printed", DATA))
    for _ in range(4):  # pack 1 reaches the camera
        await line.tick()
    return line


@pytest.fixture
async def sim(line: VirtualLine) -> AsyncIterator[KeyenceReaderSimulator]:
    sim = KeyenceReaderSimulator(line)
    await sim.start()
    async with asyncio.timeout(10):
        yield sim
    await sim.close()


@pytest.fixture
async def reader(sim: KeyenceReaderSimulator) -> AsyncIterator[KeyenceReader]:
    reader = KeyenceReader("127.0.0.1", sim.port, read_timeout=0.3)
    yield reader
    await reader.close()


async def test_data_holding_the_delimiter_reads_whole_with_its_grade(
    reader: KeyenceReader,
) -> None:
    result = await reader.read(9)
    assert (result.text, result.symbology, result.seq) == (DATA, "gs1-datamatrix", 9)
    assert result.grade in ("A", "B")


async def test_a_refused_trigger_is_a_device_error_naming_the_code_on_a_kept_link(
    sim: KeyenceReaderSimulator, reader: KeyenceReader
) -> None:
    sim.faults.refuse_trigger = 20
    with pytest.raises(DeviceError, match=r"error 20 .*not executable") as refused:
        await reader.read()
    assert not isinstance(refused.value, DeviceUnavailable)
    sim.faults.refuse_trigger = None
    assert (await reader.read()).text == DATA
    assert sim.connections == 1


async def test_a_hung_reader_fails_the_read_in_time_and_the_next_read_reconnects(
    sim: KeyenceReaderSimulator, reader: KeyenceReader
) -> None:
    assert (await reader.read()).text == DATA
    sim.faults.silent = True
    with pytest.raises(DeviceUnavailable, match=r"no reply within 0\.3 s"):
        await reader.read()
    sim.faults.silent = False
    assert (await reader.read()).text == DATA
    assert sim.connections == 2


async def test_without_appended_grades_the_colon_stays_in_the_data(
    sim: KeyenceReaderSimulator,
) -> None:
    sim.grades = False
    reader = KeyenceReader("127.0.0.1", sim.port, grades=False)
    try:
        result = await reader.read()
    finally:
        await reader.close()
    assert (result.text, result.grade) == (DATA, None)


async def test_a_reader_that_sends_no_acknowledgement_still_reads() -> None:
    async def device(r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
        while (await r.readuntil(b"\r")) == b"LON\r":
            w.write(b"ER,LOFF,01\r]d2" + DATA.encode() + b":2\r")  # a stale error, then data

    async with scripted_device(device) as port:
        reader = KeyenceReader("127.0.0.1", port)
        try:
            async with asyncio.timeout(10):
                result = await reader.read()
        finally:
            await reader.close()
    assert (result.text, result.grade) == (DATA, "C")


def test_a_trigger_with_a_bank_number_is_sent_as_documented() -> None:
    assert KeyenceReader("h", trigger="LON,02")._trigger_bytes == b"LON,02\r"
    with pytest.raises(ValueError, match="not a Keyence command"):
        KeyenceReader("h", trigger="lon")
