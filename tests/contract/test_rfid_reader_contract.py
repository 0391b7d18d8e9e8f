"""The LLRP driver against the LLRP reader simulator, over real sockets and a FaultProxy.

The simulator's ground truth (``sim.triggers``: what was in the field, the fault, what was
reported) is what the driver's result must equal, tag for tag.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import pytest

from drivers.interfaces import (
    CodeReader,
    DeviceError,
    DeviceUnavailable,
    TagRead,
    TagReader,
    TagReadResult,
)
from drivers.llrp.client import LlrpReader
from drivers.reconnect import ReconnectPolicy
from simulators.rfid_reader import (
    WEAK_RSSI_DBM,
    RfidReaderSimulator,
    SimTag,
    TagFault,
    TagFaultRates,
    sgtin_field,
)
from standards.epc.binary import decode, sgtin_epc
from tests.contract.fault_proxy import FaultProxy

SEED = 20261204
GTIN = "09506000134352"
GUARD = 10.0
NOISE = b"\x00\xff\x13\x7f\xfe"


def expected_epc(trigger: int) -> str:
    return sgtin_epc(GTIN, str(1 + trigger), 7).hex


def truth(sim: RfidReaderSimulator, trigger: int) -> tuple[TagRead, ...]:
    """What the driver must report for ``trigger``: the simulator's reported tags."""
    return tuple(
        TagRead(t.epc.hex().upper(), t.tid.hex().upper(), t.rssi_dbm, t.antenna, 3)
        for t in sim.triggers[trigger].reported
    )


@dataclass
class Rig:
    sim: RfidReaderSimulator
    proxy: FaultProxy
    driver: LlrpReader
    extra: list[LlrpReader] = field(default_factory=list)

    def reader(self, port: int | None = None, **options: Any) -> LlrpReader:
        driver = LlrpReader(
            "127.0.0.1", port or self.proxy.port, inventory_ms=5, read_timeout=2.0,
            policy=ReconnectPolicy(name="llrp", initial=0.01, maximum=0.05), **options,
        )  # fmt: skip
        self.extra.append(driver)
        return driver


@pytest.fixture
async def rig() -> AsyncIterator[Rig]:
    sim = RfidReaderSimulator(sgtin_field(GTIN, 7), seed=SEED)
    proxy = FaultProxy("127.0.0.1", await sim.start())
    await proxy.start()
    rig = Rig(sim, proxy, LlrpReader("127.0.0.1", 1))
    rig.driver = rig.reader()
    try:
        async with asyncio.timeout(GUARD):
            yield rig
    finally:
        for driver in rig.extra:
            await driver.close()
        await proxy.close()
        await rig.sim.close()


def test_the_llrp_driver_is_a_tag_reader_and_not_a_code_reader() -> None:
    reader = LlrpReader("127.0.0.1", 1)
    assert isinstance(reader, TagReader) and not isinstance(reader, CodeReader)


async def test_a_tag_reads_with_its_epc_tid_rssi_and_antenna(rig: Rig) -> None:
    result = await rig.driver.read_tags(41)
    assert result.seq == 41 and not result.no_read
    (tag,) = result.tags
    assert tag.epc == expected_epc(0)
    assert decode(tag.epc).tag_uri == "urn:epc:tag:sgtin-96:1.9506000.013435.1"
    assert tag.tid is not None and tag.tid.startswith("E2") and len(tag.tid) == 24
    assert tag.rssi_dbm == -45 and tag.antenna == 1
    assert result.tags == truth(rig.sim, 0)


async def test_a_no_read_is_a_result_not_an_exception(rig: Rig) -> None:
    rig.sim.inject(TagFault.NO_READ)
    result = await rig.driver.read_tags(1)
    assert result == TagReadResult((), 1) and result.no_read
    assert rig.sim.triggers[0].in_field  # a tag was there; the reader did not see it


async def test_a_weak_tag_reads_with_its_low_rssi(rig: Rig) -> None:
    rig.sim.inject(TagFault.WEAK)
    (tag,) = (await rig.driver.read_tags()).tags
    assert tag.epc == expected_epc(0) and tag.rssi_dbm == WEAK_RSSI_DBM


async def test_a_wrong_epc_is_reported_as_the_tag_holds_it(rig: Rig) -> None:
    rig.sim.inject(TagFault.WRONG_EPC)
    (tag,) = (await rig.driver.read_tags()).tags
    assert tag.epc != expected_epc(0)
    assert decode(tag.epc).serial != "1"


async def test_a_duplicate_tag_is_two_tag_reads_with_one_epc(rig: Rig) -> None:
    rig.sim.inject(TagFault.DUPLICATE)
    tags = (await rig.driver.read_tags()).tags
    assert len(tags) == 2
    assert {t.epc for t in tags} == {expected_epc(0)}
    assert len({t.tid for t in tags}) == 2


async def test_seeded_faults_reach_the_driver_exactly_as_the_simulator_made_them(rig: Rig) -> None:
    rig.sim.rates = TagFaultRates(no_read=0.15, weak=0.15, wrong_epc=0.15, duplicate=0.15)
    results = [await rig.driver.read_tags(seq) for seq in range(30)]
    for trigger, result in enumerate(results):
        assert result.tags == truth(rig.sim, trigger)
    faults = {t.fault for t in rig.sim.triggers}
    assert faults == {None, *TagFault}  # every fault happened at least once in 30 triggers


async def test_without_tid_reading_no_tid_is_reported(rig: Rig) -> None:
    driver = rig.reader(read_tid=False)
    (tag,) = (await driver.read_tags()).tags
    assert tag.epc == expected_epc(0) and tag.tid is None


async def test_only_the_configured_antennas_are_read(rig: Rig) -> None:
    two = SimTag(sgtin_epc(GTIN, "900", 7).encode(), b"\xe2" * 12, -60, 2)
    one = SimTag(sgtin_epc(GTIN, "100", 7).encode(), b"\xe2" * 12, -50, 1)
    rig.sim.tag_field = lambda trigger: [one, two]
    antenna_2 = rig.reader(antennas=(2,))
    assert [t.antenna for t in (await antenna_2.read_tags()).tags] == [2]
    await antenna_2.close()
    await rig.sim.wait_no_client()
    assert len((await rig.driver.read_tags()).tags) == 2


async def test_a_report_in_single_bytes_is_reassembled(rig: Rig) -> None:
    await rig.driver.connect()
    rig.proxy.plan.single_bytes = True
    (tag,) = (await rig.driver.read_tags()).tags
    assert tag.epc == expected_epc(0)


async def test_garbage_before_a_reply_is_skipped_and_counted(rig: Rig) -> None:
    await rig.driver.connect()
    rig.proxy.plan.garbage = NOISE
    (tag,) = (await rig.driver.read_tags()).tags
    assert tag.epc == expected_epc(0)
    assert rig.driver.protocol_errors > 0


async def test_a_drop_mid_read_fails_that_read_and_the_next_read_reconnects(rig: Rig) -> None:
    assert len((await rig.driver.read_tags()).tags) == 1
    rig.proxy.plan.drop_after = 12
    with pytest.raises(DeviceUnavailable):
        await rig.driver.read_tags()
    await rig.sim.wait_no_client()
    (tag,) = (await rig.driver.read_tags()).tags
    assert tag.epc == expected_epc(2)  # the reader counted the interrupted inventory too
    assert rig.proxy.connections == 2


async def test_a_second_client_is_refused_while_one_is_connected(rig: Rig) -> None:
    await rig.driver.connect()
    second = rig.reader()
    with pytest.raises(DeviceUnavailable):
        await second.read_tags()
    assert len((await rig.driver.read_tags()).tags) == 1  # the first one goes on


async def test_a_reader_restarted_on_the_same_port_is_reconfigured(rig: Rig) -> None:
    direct = rig.reader(rig.sim.port)
    assert len((await direct.read_tags()).tags) == 1
    port = rig.sim.port
    await rig.sim.close()
    with pytest.raises(DeviceUnavailable):
        await direct.read_tags()
    rig.sim = RfidReaderSimulator(sgtin_field(GTIN, 7), port=port, seed=SEED)  # specs forgotten
    await rig.sim.start()
    await direct.wait_connected()
    (tag,) = (await direct.read_tags()).tags  # ROSpec and AccessSpec added again
    assert tag.epc == expected_epc(0) and tag.tid is not None


async def test_a_refused_start_is_a_device_error_naming_the_status(rig: Rig) -> None:
    await rig.driver.connect()
    rig.sim._specs.rospecs.clear()  # the reader lost its ROSpec (say, a web UI reset)
    with pytest.raises(DeviceError, match="status 400"):
        await rig.driver.read_tags()


async def test_close_twice_is_safe_and_a_read_after_close_fails(rig: Rig) -> None:
    assert len((await rig.driver.read_tags()).tags) == 1
    await rig.driver.close()
    await rig.driver.close()
    with pytest.raises(DeviceUnavailable):
        await rig.driver.read_tags()
