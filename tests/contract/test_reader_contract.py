"""One contract for every smart-reader driver, run against its simulator over real sockets.

Each case builds a virtual line whose printer marks pack ``seq`` with a GS1 element string, a
reader simulator looking at the camera station, a FaultProxy in front of it (127.0.0.1, port 0)
and the real driver. The simulator's read model (``simulators.smart_reader.sees``) is the ground
truth for what the reader reports about a pack.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

import pytest

from drivers.dmcc.client import DmccReader
from drivers.interfaces import CodeReader, DeviceUnavailable
from drivers.keyence.client import KeyenceReader
from drivers.reader_link import ReaderLink
from drivers.reconnect import ReconnectPolicy
from simulators.line import Defect, FaultPlan, LineLayout, Pack, Station, VirtualLine
from simulators.reader_dmcc import DmccReaderSimulator
from simulators.reader_keyence import KeyenceReaderSimulator
from simulators.smart_reader import GTIN, ReaderServer, element_string, sees
from tests.contract.fault_proxy import FaultProxy

SEED = 20240611
GUARD = 10.0  # seconds before a broken case fails instead of hanging
NOISE = b"\x00\xff\x13\x7f\xfe"


def code_for(seq: int) -> str:
    return element_string(GTIN, "271231", "LOT42", f"SN{seq:010d}")


def fast_policy(name: str) -> ReconnectPolicy:
    return ReconnectPolicy(name=name, initial=0.01, maximum=0.05)


@dataclass(frozen=True)
class Kit:
    """How to build one reader protocol's simulator and driver."""

    name: str
    simulator: Callable[[VirtualLine, int], ReaderServer]
    driver: Callable[[int], ReaderLink[Any]]


KITS = [
    Kit(
        "dmcc",
        lambda line, port: DmccReaderSimulator(line, port=port, seed=SEED),
        lambda port: DmccReader(
            "127.0.0.1", port, read_timeout=2.0, connect_timeout=2.0, policy=fast_policy("dmcc")
        ),
    ),
    Kit(
        "keyence",
        lambda line, port: KeyenceReaderSimulator(line, port=port, seed=SEED),
        lambda port: KeyenceReader(
            "127.0.0.1", port, read_timeout=2.0, connect_timeout=2.0, policy=fast_policy("sr")
        ),
    ),
]


@dataclass
class Rig:
    kit: Kit
    line: VirtualLine
    sim: ReaderServer
    proxy: FaultProxy
    driver: ReaderLink[Any]
    extra: list[ReaderLink[Any] | ReaderServer] = field(default_factory=list)

    async def pack_at_camera(self) -> Pack:
        """Move the line until the next pack stands at the camera."""
        while True:
            await self.line.tick()
            pack = self.line.pack_at(Station.CAMERA)
            if pack is not None:
                return pack

    def expected(self, pack: Pack) -> tuple[str | None, str | None, str | None]:
        """(text, symbology, grade) the reader must report for ``pack``."""
        result = sees(pack, SEED).to_result()
        return result.text, result.symbology, result.grade

    async def warm(self) -> None:
        """One good read, so driver, proxy and simulator are all connected."""
        pack = await self.pack_at_camera()
        assert (await self.driver.read()).text == code_for(pack.seq)


def mark(pack: Pack) -> None:
    pack.intended = code_for(pack.seq)
    pack.printed = None if pack.defect is Defect.NO_PRINT else pack.intended


@pytest.fixture(params=KITS, ids=[k.name for k in KITS])
async def rig(request: pytest.FixtureRequest) -> AsyncIterator[Rig]:
    kit: Kit = request.param
    line = VirtualLine(LineLayout(), FaultPlan(seed=SEED))
    line.on(Station.PRINTER, mark)
    sim = kit.simulator(line, 0)
    proxy = FaultProxy("127.0.0.1", await sim.start())
    await proxy.start()
    rig = Rig(kit, line, sim, proxy, kit.driver(proxy.port))
    try:
        async with asyncio.timeout(GUARD):
            yield rig
    finally:
        await rig.driver.close()
        for thing in rig.extra:
            await thing.close()
        await proxy.close()
        await rig.sim.close()


def test_both_drivers_are_code_readers() -> None:
    for kit in KITS:
        assert isinstance(kit.driver(1), CodeReader)


async def test_a_printed_pack_reads_exactly_its_data(rig: Rig) -> None:
    pack = await rig.pack_at_camera()
    result = await rig.driver.read(pack.seq)
    assert result.text == code_for(pack.seq)
    assert result.symbology == "gs1-datamatrix"
    assert result.seq == pack.seq
    assert result.grade == rig.expected(pack)[2] is not None


async def test_an_unprinted_pack_is_a_no_read(rig: Rig) -> None:
    pack = await rig.pack_at_camera()
    pack.printed = None
    result = await rig.driver.read(pack.seq)
    assert result.text is None
    assert result.grade is None


async def test_reads_follow_the_packs_and_their_defects(rig: Rig) -> None:
    defects = [None, Defect.SMUDGE, Defect.BLUR, None, Defect.MISSING_MODULES, Defect.LOW_CONTRAST]
    seen = []
    for i in range(18):
        pack = await rig.pack_at_camera()
        pack.defect = defects[i % len(defects)]
        result = await rig.driver.read(pack.seq)
        assert (result.text, result.symbology, result.grade) == rig.expected(pack)
        seen.append(result.text is None)
    assert any(seen) and not all(seen)  # the defects made some no-reads, not all


async def test_a_reply_in_single_bytes_is_reassembled(rig: Rig) -> None:
    await rig.warm()
    rig.proxy.plan.single_bytes = True
    pack = await rig.pack_at_camera()
    assert (await rig.driver.read()).text == code_for(pack.seq)


async def test_two_replies_in_one_read_are_both_used(rig: Rig) -> None:
    await rig.warm()
    rig.proxy.plan.join_replies = 2  # the acknowledgement and the read arrive together
    for _ in range(3):
        pack = await rig.pack_at_camera()
        assert (await rig.driver.read()).text == code_for(pack.seq)


async def test_garbage_before_a_reply_is_skipped(rig: Rig) -> None:
    await rig.warm()
    errors = rig.driver.protocol_errors
    rig.proxy.plan.garbage = NOISE
    pack = await rig.pack_at_camera()
    assert (await rig.driver.read()).text == code_for(pack.seq)
    assert rig.driver.protocol_errors > errors


async def test_a_drop_mid_reply_fails_that_read_and_the_next_read_reconnects(rig: Rig) -> None:
    await rig.warm()
    assert rig.proxy.connections == 1
    rig.proxy.plan.drop_after = 4
    await rig.pack_at_camera()
    with pytest.raises(DeviceUnavailable):
        await rig.driver.read()
    pack = await rig.pack_at_camera()
    assert (await rig.driver.read()).text == code_for(pack.seq)
    assert rig.proxy.connections == 2


async def test_a_reader_restarted_on_the_same_port_is_reconnected(rig: Rig) -> None:
    direct = rig.kit.driver(rig.sim.port)
    rig.extra.append(direct)
    pack = await rig.pack_at_camera()
    assert (await direct.read()).text == code_for(pack.seq)
    await rig.sim.close()
    with pytest.raises(DeviceUnavailable):
        await direct.read()  # the link went with the reader
    with pytest.raises(DeviceUnavailable):
        await direct.read()  # nobody listens: refused, the policy backs off
    rig.sim = rig.kit.simulator(rig.line, rig.sim.port)
    await rig.sim.start()
    await direct.wait_connected()
    pack = await rig.pack_at_camera()
    assert (await direct.read()).text == code_for(pack.seq)


async def test_close_twice_is_safe_and_a_read_after_close_fails(rig: Rig) -> None:
    pack = await rig.pack_at_camera()
    assert (await rig.driver.read()).text == code_for(pack.seq)
    await rig.driver.close()
    await rig.driver.close()
    with pytest.raises(DeviceUnavailable):
        await rig.driver.read()
