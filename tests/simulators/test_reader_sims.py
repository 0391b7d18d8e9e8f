"""The smart-reader simulators: read model, protocol corners, wire faults, stand-alone mode."""

from __future__ import annotations

import argparse
import asyncio
from collections.abc import AsyncIterator, Callable, Coroutine
from typing import Any

import pytest

from drivers.dmcc.client import DmccReader
from drivers.dmcc.codec import DmccHost, Response
from drivers.interfaces import DeviceUnavailable
from drivers.keyence.client import KeyenceReader
from drivers.keyence.codec import Ack, ErrorReply, KeyenceHost
from drivers.reader_codec import NEED_DATA, CodeRead
from drivers.reader_link import ReaderLink
from simulators import reader_dmcc, reader_keyence
from simulators.line import Defect, LineLayout, Pack, Station, VirtualLine
from simulators.smart_reader import (
    GS,
    GTIN,
    IMAGE_DEFECTS,
    OTHER_GTIN,
    ReaderServer,
    marking_printer,
    sees,
)

DATA = "0109506000134352\x1d21SIM0000001"


# --- the read model ------------------------------------------------------------------------------


def test_a_pack_reads_the_same_every_time_for_a_seed() -> None:
    packs = [Pack(seq, Defect.SMUDGE, DATA) for seq in range(1, 60)]
    assert [sees(p, 7) for p in packs] == [sees(p, 7) for p in packs]
    assert [sees(p, 7) for p in packs] != [sees(p, 8) for p in packs]


def test_nothing_at_the_camera_or_nothing_printed_is_a_no_read() -> None:
    assert sees(None, 0) == CodeRead(None)
    assert sees(Pack(1, None, None), 0) == CodeRead(None)
    assert sees(Pack(2, Defect.NO_PRINT, None), 0) == CodeRead(None)


def test_a_clean_pack_always_reads_with_a_good_grade() -> None:
    reads = [sees(Pack(seq, None, DATA), 3) for seq in range(1, 401)]
    assert all(r.text == DATA and r.symbology_id == "]d2" for r in reads)
    assert {r.grade for r in reads} == {"A", "B"}


@pytest.mark.parametrize("defect", sorted(IMAGE_DEFECTS))
def test_image_defects_cause_no_reads_and_low_grades_at_the_documented_rates(
    defect: Defect,
) -> None:
    no_read_rate, grade = IMAGE_DEFECTS[defect]
    reads = [sees(Pack(seq, defect, DATA), 11) for seq in range(1, 601)]
    no_reads = sum(r.text is None for r in reads)
    assert abs(no_reads / len(reads) - no_read_rate) < 0.08
    assert {r.grade for r in reads if r.text is not None} == {grade}


def test_a_digital_link_is_reported_as_plain_data_matrix() -> None:
    read = sees(Pack(1, None, "https://id.gs1.org/01/09506000134352/21/X1"), 0)
    assert read.symbology_id == "]d1"


def test_the_standalone_printer_marks_gs1_codes_and_print_defects() -> None:
    mark = marking_printer(5)
    packs = [Pack(1), Pack(2, Defect.NO_PRINT), Pack(3, Defect.WRONG_CONTENT)]
    packs += [Pack(4), Pack(5, Defect.DUPLICATE)]
    for pack in packs:
        mark(pack)
    good = packs[0].printed
    assert good is not None and good.startswith("01" + GTIN + "17") and GS + "21" in good
    assert packs[1].printed is None and packs[1].intended is not None
    assert packs[2].printed is not None and packs[2].printed.startswith("01" + OTHER_GTIN)
    assert packs[4].printed == packs[3].printed != packs[4].intended


# --- protocol corners over a raw socket ----------------------------------------------------------


@pytest.fixture
async def line() -> VirtualLine:
    line = VirtualLine(LineLayout())
    line.on(Station.PRINTER, lambda pack: setattr(pack, "printed", DATA))
    for _ in range(4):
        await line.tick()
    return line


async def exchange(
    port: int, send: bytes, codec: DmccHost | KeyenceHost, count: int
) -> list[object]:
    """Send ``send`` raw, return the first ``count`` events the simulator answers with."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    out: list[object] = []
    try:
        async with asyncio.timeout(5):
            writer.write(send)
            while len(out) < count:
                codec.receive_data(await reader.read(1024))
                while (event := codec.next_event()) is not NEED_DATA:
                    out.append(event)
    finally:
        writer.close()
    return out


async def test_dmcc_simulator_starts_silent_and_answers_in_the_mode_it_is_in(
    line: VirtualLine,
) -> None:
    sim = reader_dmcc.DmccReaderSimulator(line)
    port = await sim.start()
    try:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(b"||0:1>GET COM.DMCC-RESPONSE\r\n||>TRIGGER ON\r\n")
        async with asyncio.timeout(5):
            assert await reader.readuntil(b"\r\n") == b"0\r\n"  # Silent: bare value
            grade = sees(line.pack_at(Station.CAMERA), 0).grade
            assert grade is not None
            expected = b"]d2" + DATA.encode() + b"," + grade.encode() + b"\r\n"
            assert await reader.readuntil(b"\r\n") == expected
        writer.close()
        events = await exchange(
            port,
            b"||>SET COM.DMCC-RESPONSE 1\r\n||0:2>BOGUS\r\n||0:3>SET COM.DMCC-RESPONSE 7\r\n"
            b"||0:4>GET NO.SUCH-THING\r\n||0:5>TRIGGER OFF\r\n",
            DmccHost(),
            4,
        )
    finally:
        await sim.close()
    assert events == [
        Response(101, "", 2),  # command invalid
        Response(102, "", 3),  # parameter invalid: no mode 7
        Response(102, "", 4),  # parameter invalid: no such setting
        Response(0, "", 5),
    ]


async def test_keyence_simulator_refuses_a_second_trigger_while_decoding(
    line: VirtualLine,
) -> None:
    sim = reader_keyence.KeyenceReaderSimulator(line, decode_seconds=0.2)
    port = await sim.start()
    try:
        events = await exchange(port, b"LON\rLON\rLON,99\rLON,01,2\rFOO\rLOFF\r", KeyenceHost(), 7)
    finally:
        await sim.close()
    assert events[:6] == [
        Ack("LON"),
        ErrorReply("LON", 20),
        ErrorReply("LON", 2),
        ErrorReply("LON", 1),
        ErrorReply("FOO", 0),
        Ack("LOFF"),
    ]
    read = events[6]
    assert isinstance(read, CodeRead) and read.text == DATA


# --- wire-fault knobs, seen through the real drivers ---------------------------------------------

Kit = tuple[Callable[[VirtualLine], ReaderServer], Callable[[int], ReaderLink[Any]]]
KITS: dict[str, Kit] = {
    "dmcc": (
        lambda line: reader_dmcc.DmccReaderSimulator(line, seed=1),
        lambda port: DmccReader("127.0.0.1", port),
    ),
    "keyence": (
        lambda line: reader_keyence.KeyenceReaderSimulator(line, seed=1),
        lambda port: KeyenceReader("127.0.0.1", port),
    ),
}


@pytest.fixture(params=sorted(KITS))
async def pair(
    request: pytest.FixtureRequest, line: VirtualLine
) -> AsyncIterator[tuple[ReaderServer, ReaderLink[Any]]]:
    make_sim, make_driver = KITS[request.param]
    sim = make_sim(line)
    driver = make_driver(await sim.start())
    async with asyncio.timeout(10):
        yield sim, driver
    await driver.close()
    await sim.close()


async def test_split_writes_still_read(pair: tuple[ReaderServer, ReaderLink[Any]]) -> None:
    sim, driver = pair
    sim.faults.split_writes = True
    assert (await driver.read()).text == DATA


async def test_noise_before_replies_is_skipped(
    pair: tuple[ReaderServer, ReaderLink[Any]],
) -> None:
    sim, driver = pair
    sim.faults.garbage_rate = 1.0
    assert (await driver.read()).text == DATA
    assert driver.protocol_errors >= 1


async def test_a_drop_mid_reply_is_device_unavailable(
    pair: tuple[ReaderServer, ReaderLink[Any]],
) -> None:
    sim, driver = pair
    await driver.connect()
    sim.faults.drop_rate = 1.0
    with pytest.raises(DeviceUnavailable):
        await driver.read()
    sim.faults.drop_rate = 0.0
    assert (await driver.read()).text == DATA


# --- stand-alone mode ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("module", "make_driver"),
    [
        (reader_dmcc, lambda port: DmccReader("127.0.0.1", port)),
        (reader_keyence, lambda port: KeyenceReader("127.0.0.1", port)),
    ],
    ids=["dmcc", "keyence"],
)
async def test_standalone_simulator_serves_reads_of_its_own_printed_line(
    module: object, make_driver: Callable[[int], ReaderLink[Any]]
) -> None:
    parser = argparse.ArgumentParser()
    module.add_arguments(parser)  # type: ignore[attr-defined]
    args = parser.parse_args(["--port", "0", "--speed", "6000", "--seed", "3"])
    started: asyncio.Future[int] = asyncio.get_running_loop().create_future()
    serve: Callable[..., Coroutine[Any, Any, None]] = module.serve  # type: ignore[attr-defined]
    task = asyncio.create_task(serve(args, started=started.set_result), name="standalone-sim")
    driver = make_driver(await asyncio.wait_for(started, 5))
    try:
        async with asyncio.timeout(10):
            result = await driver.read()
            while result.text is None:  # no pack at the camera yet: trigger again
                result = await driver.read()
    finally:
        await driver.close()
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
    assert result.text.startswith("01" + GTIN) and GS + "21" in result.text
    assert result.symbology == "gs1-datamatrix" and result.grade is not None
