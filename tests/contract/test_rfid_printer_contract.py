"""The ZPL driver with an RFID encoder against the ZPL printer simulator, over a real socket.

The driver sends each job's EPC in its label format (``^RS``/``^RFW``/``^RFR``/``^HV``); the
simulator encodes it into the inlay of the pack the label goes on and returns the read-back as
the label prints; the driver hands the read-backs over per label (``encode_outcomes``). Faults:
seeded or forced per pack (simulators.rfid_inlay), and the byte stream cut up by the FaultProxy.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from drivers.interfaces import EncodeOutcome, PrintJob, RfidPrinter
from drivers.reconnect import ReconnectPolicy
from drivers.zpl.client import ZplPrinter
from simulators.line import Defect, FaultPlan, LineLayout, VirtualLine
from simulators.printer_zpl import ZplPrinterSimulator
from simulators.rfid_inlay import InlayFault, wrong_epc
from standards.epc.binary import sgtin_epc
from tests.contract.fault_proxy import FaultProxy

GS = "\x1d"
GTIN = "09506000134352"


def epc_of(serial: str) -> str:
    return sgtin_epc(GTIN, serial, 7).hex


def job(seq: int, serial: str | None = None) -> PrintJob:
    serial = serial or f"{1000 + seq}"
    data = f"01{GTIN}17271231" + "10LOT42" + GS + f"21{serial}"
    return PrintJob(seq=seq, data=data, hri=("LOT42", serial), epc=epc_of(serial))


class Forced(FaultPlan):
    """Print defects forced on given packs."""

    def __init__(self, forced: dict[int, Defect]) -> None:
        super().__init__()
        self.forced = forced
        self.n = 0

    def draw(self) -> Defect | None:
        self.n += 1
        return self.forced.get(self.n)


@pytest.fixture
async def rig() -> AsyncIterator[tuple[VirtualLine, ZplPrinterSimulator, ZplPrinter, FaultProxy]]:
    line = VirtualLine(LineLayout(packs_per_minute=6000))
    sim = ZplPrinterSimulator(line, seed=5)
    await sim.start()
    proxy = FaultProxy("127.0.0.1", sim.port)
    await proxy.start()
    policy = ReconnectPolicy("zpl", initial=0.01, maximum=0.05)
    driver = ZplPrinter("127.0.0.1", proxy.port, policy=policy, rfid=True)
    await driver.connect()
    yield line, sim, driver, proxy
    await driver.close()
    await proxy.close()
    await sim.close()


async def print_packs(line: VirtualLine, sim: ZplPrinterSimulator, n: int) -> None:
    """Run ``n`` packs past the printer once ``n`` formats are queued."""
    await sim.engine.wait_queued(n)
    for _ in range(n):
        await line.tick()


async def outcomes(driver: ZplPrinter, n: int) -> list[EncodeOutcome]:
    """Poll the printer's status until ``n`` read-backs came in (the line has printed them)."""
    got: list[EncodeOutcome] = []
    for _ in range(200):
        await driver.status()
        got += driver.encode_outcomes()
        if len(got) >= n:
            return got
    raise AssertionError(f"only {len(got)} of {n} read-backs arrived: {got}")


async def test_an_rfid_zpl_printer_offers_the_capability_and_says_it_encodes(
    rig: tuple[VirtualLine, ZplPrinterSimulator, ZplPrinter, FaultProxy],
) -> None:
    _, _, driver, _ = rig
    assert isinstance(driver, RfidPrinter)
    assert driver.encodes_rfid
    assert not ZplPrinter("127.0.0.1", 1).encodes_rfid


async def test_each_pack_gets_its_epc_in_its_inlay_and_the_printer_reads_it_back(
    rig: tuple[VirtualLine, ZplPrinterSimulator, ZplPrinter, FaultProxy],
) -> None:
    line, sim, driver, _ = rig
    jobs = [job(seq) for seq in (1, 2, 3)]
    for j in jobs:
        await driver.load(j)
    await print_packs(line, sim, 3)
    got = await outcomes(driver, 3)
    assert [(o.seq, o.epc) for o in got] == [(j.seq, j.epc) for j in jobs]
    assert all(o.encoded(j.epc or "") for o, j in zip(got, jobs, strict=True))
    for j in jobs:
        assert line.history[j.seq].inlay == bytes.fromhex(j.epc or "")
        assert not line.history[j.seq].inlay_weak


async def test_an_sgtin_198_epc_is_written_whole(
    rig: tuple[VirtualLine, ZplPrinterSimulator, ZplPrinter, FaultProxy],
) -> None:
    line, sim, driver, _ = rig
    alnum = job(1, "AB-12/x")
    assert len(alnum.epc or "") == 52  # 13 words
    await driver.load(alnum)
    await print_packs(line, sim, 1)
    (got,) = await outcomes(driver, 1)
    assert got.epc == alnum.epc
    assert line.history[1].inlay == bytes.fromhex(alnum.epc or "")


async def test_an_encode_failure_voids_the_label_and_reads_back_nothing(
    rig: tuple[VirtualLine, ZplPrinterSimulator, ZplPrinter, FaultProxy],
) -> None:
    line, sim, driver, _ = rig
    sim.engine.inlays.forced = {2: InlayFault.ENCODE_FAILURE}
    for seq in (1, 2, 3):
        await driver.load(job(seq))
    await print_packs(line, sim, 3)
    got = {o.seq: o for o in await outcomes(driver, 3)}
    assert got[2].epc is None and not got[2].encoded(job(2).epc or "")
    assert got[1].encoded(job(1).epc or "") and got[3].encoded(job(3).epc or "")
    assert line.history[2].inlay is None
    assert line.history[2].printed is not None  # the code is still there, the tag is not


async def test_a_wrong_write_and_a_weak_tag_read_back_as_written(
    rig: tuple[VirtualLine, ZplPrinterSimulator, ZplPrinter, FaultProxy],
) -> None:
    line, sim, driver, _ = rig
    sim.engine.inlays.forced = {1: InlayFault.WRONG_WRITE, 2: InlayFault.WEAK_TAG}
    for seq in (1, 2):
        await driver.load(job(seq))
    await print_packs(line, sim, 2)
    got = {o.seq: o for o in await outcomes(driver, 2)}
    epc1, epc2 = job(1).epc or "", job(2).epc or ""
    assert got[1].encoded(epc1) and got[2].encoded(epc2)  # the printer does not notice
    assert line.history[1].inlay == bytes.fromhex(wrong_epc(epc1)) != bytes.fromhex(epc1)
    assert line.history[2].inlay == bytes.fromhex(epc2) and line.history[2].inlay_weak


async def test_a_pack_without_its_label_has_no_inlay_though_the_printer_encoded_it() -> None:
    line = VirtualLine(LineLayout(packs_per_minute=6000), Forced({1: Defect.NO_PRINT}))
    sim = ZplPrinterSimulator(line)
    await sim.start()
    driver = ZplPrinter("127.0.0.1", sim.port, rfid=True)
    try:
        await driver.load(job(1))
        await print_packs(line, sim, 1)
        (got,) = await outcomes(driver, 1)
        assert got.encoded(job(1).epc or "")
        assert line.history[1].inlay is None and line.history[1].printed is None
    finally:
        await driver.close()
        await sim.close()


async def test_read_backs_survive_a_byte_stream_cut_into_single_bytes(
    rig: tuple[VirtualLine, ZplPrinterSimulator, ZplPrinter, FaultProxy],
) -> None:
    line, sim, driver, proxy = rig
    proxy.plan.single_bytes = True
    jobs = [job(seq) for seq in range(1, 6)]
    for j in jobs:
        await driver.load(j)
    await print_packs(line, sim, 5)
    got = await outcomes(driver, 5)
    assert [(o.seq, o.epc) for o in got] == [(j.seq, j.epc) for j in jobs]


async def test_seeded_inlay_faults_repeat_with_the_seed() -> None:
    async def run() -> list[str | None]:
        line = VirtualLine(LineLayout(packs_per_minute=6000))
        rates = {InlayFault.ENCODE_FAILURE: 0.3, InlayFault.WEAK_TAG: 0.2}
        sim = ZplPrinterSimulator(line, seed=11, rfid_faults=rates)
        await sim.start()
        driver = ZplPrinter("127.0.0.1", sim.port, rfid=True)
        try:
            for seq in range(1, 21):
                await driver.load(job(seq))
            await print_packs(line, sim, 20)
            await outcomes(driver, 20)
            return [r.inlay_fault for r in sim.engine.log]
        finally:
            await driver.close()
            await sim.close()

    first, second = await run(), await run()
    assert first == second
    assert "encode-failure" in first and "weak-tag" in first and None in first


async def test_a_job_and_the_printer_must_agree_on_rfid() -> None:
    plain = ZplPrinter("127.0.0.1", 1)
    with pytest.raises(ValueError, match="no RFID option"):
        await plain.load(job(1))
    rfid = ZplPrinter("127.0.0.1", 1, rfid=True)
    with pytest.raises(ValueError, match="has no EPC"):
        await rfid.load(PrintJob(seq=1, data="0109506000134352"))
