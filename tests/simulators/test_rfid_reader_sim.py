"""The LLRP reader simulator: seeded faults at their rates, and the stand-alone command."""

from __future__ import annotations

import argparse
import asyncio
import subprocess
import sys
from collections import Counter

import pytest

from drivers.llrp.client import LlrpReader
from simulators.__main__ import build_parser
from simulators.line import LineLayout, Station, VirtualLine
from simulators.rfid_reader import (
    WEAK_RSSI_DBM,
    SimTag,
    TagFault,
    TagFaultRates,
    add_arguments,
    apply_fault,
    fault_for,
    pack_field,
    serve,
    sgtin_field,
    tid_for,
)
from standards.epc.binary import decode

GTIN = "09506000134352"


def test_faults_are_seeded_and_come_at_their_rates() -> None:
    rates = TagFaultRates(no_read=0.1, weak=0.05, wrong_epc=0.02, duplicate=0.03)
    faults = [fault_for(7, n, rates) for n in range(20_000)]
    assert faults == [fault_for(7, n, rates) for n in range(20_000)]
    counts = Counter(faults)
    for fault, rate in [(TagFault.NO_READ, 0.1), (TagFault.WEAK, 0.05),
                        (TagFault.WRONG_EPC, 0.02), (TagFault.DUPLICATE, 0.03)]:  # fmt: skip
        assert abs(counts[fault] / 20_000 - rate) < 0.01, fault
    assert faults != [fault_for(8, n, rates) for n in range(20_000)]


def test_rates_above_one_are_refused() -> None:
    with pytest.raises(ValueError, match="sum to at most 1"):
        TagFaultRates(no_read=0.6, weak=0.5)


def test_each_fault_changes_what_the_reader_sees_as_documented() -> None:
    tag = SimTag(bytes(11) + b"\x04", tid_for(b"x"), -50, 1)
    assert apply_fault([tag], None) == [tag]
    assert apply_fault([tag], TagFault.NO_READ) == []
    assert apply_fault([tag], TagFault.WEAK)[0].rssi_dbm == WEAK_RSSI_DBM
    assert apply_fault([tag], TagFault.WRONG_EPC)[0].epc == bytes(11) + b"\x05"
    twins = apply_fault([tag], TagFault.DUPLICATE)
    assert [t.epc for t in twins] == [tag.epc] * 2 and twins[0].tid != twins[1].tid


def test_the_standalone_field_holds_consecutive_sgtin96_serials() -> None:
    field = sgtin_field(GTIN, 7, first_serial=100)
    assert [decode(field(n)[0].epc).serial for n in range(3)] == ["100", "101", "102"]


async def test_a_pack_field_holds_the_tags_of_the_pack_at_the_station() -> None:
    line = VirtualLine(LineLayout())
    field = pack_field(line, Station.CAMERA, lambda pack: [SimTag(bytes([pack.seq] * 12), b"")])
    assert field(0) == []
    while line.pack_at(Station.CAMERA) is None:
        await line.tick()
    pack = line.pack_at(Station.CAMERA)
    assert pack is not None and field(1) == [SimTag(bytes([pack.seq] * 12), b"")]


def test_the_simulator_command_knows_the_rfid_reader() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "simulators", "rfid", "--help"],
        capture_output=True, text=True, check=True, timeout=60,
    )  # fmt: skip
    assert "--no-read-rate" in result.stdout and "--duplicate-rate" in result.stdout
    assert "rfid" in build_parser().format_help()


async def test_the_standalone_reader_serves_tags_to_the_llrp_driver() -> None:
    p = argparse.ArgumentParser()
    add_arguments(p)
    args = p.parse_args(["--port", "0", "--first-serial", "500", "--gtin", GTIN])
    started: asyncio.Future[int] = asyncio.get_running_loop().create_future()
    task = asyncio.create_task(serve(args, started=started.set_result), name="rfid-sim")
    driver = LlrpReader("127.0.0.1", await asyncio.wait_for(started, 5), inventory_ms=5)
    try:
        async with asyncio.timeout(10):
            first = await driver.read_tags()
            second = await driver.read_tags()
    finally:
        await driver.close()
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
    assert [decode(r.tags[0].epc).serial for r in (first, second)] == ["500", "501"]
