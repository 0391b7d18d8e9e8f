"""One contract for every printer driver, run against its simulator on real sockets and ptys.

Rigs: ZPL over TCP and WSI over TCP (each behind the FaultProxy), WSI over a pty serial pair (the
simulator's own fault knobs stand in for the proxy). Every test must hold for all three.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from drivers.interfaces import DeviceUnavailable, Printer, PrintJob
from drivers.reconnect import ReconnectPolicy
from drivers.wsi.client import WsiPrinter
from drivers.zpl.client import ZplPrinter
from simulators.line import FaultPlan, LineLayout, VirtualLine
from simulators.printer_wsi import WsiPrinterSimulator
from simulators.printer_zpl import ZplPrinterSimulator
from tests.contract.fault_proxy import FaultProxy

GS = "\x1d"
RIGS = ["zpl-tcp", "wsi-tcp", "wsi-serial"]


def job(serial: int) -> PrintJob:
    data = "0109506000134352" + "17271231" + "10LOT42" + GS + f"21SN{serial:06d}"
    return PrintJob(seq=serial, data=data, hri=("LOT42", f"SN{serial:06d}"))


def fast_policy(name: str) -> ReconnectPolicy:
    return ReconnectPolicy(name, initial=0.01, maximum=0.05)


@dataclass
class Rig:
    """A driver wired to its simulator, with protocol-neutral fault switches."""

    kind: str
    line: VirtualLine
    sim: ZplPrinterSimulator | WsiPrinterSimulator
    driver: ZplPrinter | WsiPrinter
    proxy: FaultProxy | None

    @property
    def stale_reply(self) -> bytes:
        """A complete, well-formed reply that belongs to no current request."""
        return b'"17"' if self.kind == "zpl-tcp" else b"\x02E02\x03"

    def single_bytes(self) -> None:
        if self.proxy is not None:
            self.proxy.plan.single_bytes = True
        else:
            self._serial().split_writes = True

    def garbage(self, data: bytes) -> None:
        if self.proxy is not None:
            self.proxy.plan.garbage = data
        else:
            self._serial().garbage = data

    def join_replies(self, n: int) -> None:
        if self.proxy is None:  # over TCP the simulator already answers a batch in one write
            self._serial().join_replies = n

    def drop_after(self, n: int) -> None:
        if self.proxy is not None:
            self.proxy.plan.drop_after = n
        else:
            self._serial().drop_after = n

    def _serial(self) -> object:
        assert isinstance(self.sim, WsiPrinterSimulator)
        return self.sim.serial_faults

    def set_fault(self, on: bool) -> None:
        if isinstance(self.sim, ZplPrinterSimulator):
            self.sim.set_fault(head_open=on)
        else:
            self.sim.set_error(2, on)  # 02: print head cover open


@pytest.fixture(params=RIGS)
async def rig(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Rig]:
    kind: str = request.param
    line = VirtualLine(LineLayout(packs_per_minute=6000), FaultPlan(seed=11))
    proxy: FaultProxy | None = None
    driver: ZplPrinter | WsiPrinter
    sim: ZplPrinterSimulator | WsiPrinterSimulator
    if kind == "zpl-tcp":
        sim = ZplPrinterSimulator(line)
        proxy = await FaultProxy("127.0.0.1", await sim.start()).start()
        driver = ZplPrinter("127.0.0.1", proxy.port, policy=fast_policy(kind), reply_timeout=1.0)
    elif kind == "wsi-tcp":
        sim = WsiPrinterSimulator(line)
        proxy = await FaultProxy("127.0.0.1", await sim.start()).start()
        driver = WsiPrinter.tcp(
            "127.0.0.1", proxy.port, policy=fast_policy(kind), reply_timeout=1.0
        )
    else:
        link = tmp_path / "ttyWSI0"
        sim = WsiPrinterSimulator(line, port=None, serial_link=link)
        await sim.start()
        driver = WsiPrinter.serial(str(link), 19200, policy=fast_policy(kind), reply_timeout=1.0)
    rig = Rig(kind, line, sim, driver, proxy)
    async with asyncio.timeout(5):
        await driver.connect()
    try:
        yield rig
    finally:
        line.running = False
        await driver.close()
        if proxy is not None:
            await proxy.close()
        await sim.close()


async def test_driver_is_a_printer(rig: Rig) -> None:
    assert isinstance(rig.driver, Printer)


async def test_loaded_jobs_are_printed_on_the_running_line_and_confirmed_by_the_counter(
    rig: Rig,
) -> None:
    async with asyncio.timeout(5):
        before = await rig.driver.status()
        for serial in (1, 2, 3):
            await rig.driver.load(job(serial))
        queued = await rig.driver.status()
        runner = asyncio.create_task(rig.line.run(), name="test-line")
        while rig.sim.engine.count < 3:
            await rig.sim.engine.wait_print()
        rig.line.running = False
        await runner
        after = await rig.driver.status()
    assert queued.jobs_queued == 3 and queued.print_count == before.print_count
    assert after.print_count == before.print_count + 3 and after.jobs_queued == 0
    assert after.ready and after.faults == ()
    marked = [r.data for r in rig.sim.engine.log]
    assert marked == [job(s).data for s in (1, 2, 3)]
    packs = [rig.line.history[r.seq] for r in rig.sim.engine.log]
    assert [p.printed for p in packs] == marked


async def test_status_reports_a_head_fault_and_its_clearing(rig: Rig) -> None:
    async with asyncio.timeout(5):
        rig.set_fault(True)
        faulted = await rig.driver.status()
        rig.set_fault(False)
        cleared = await rig.driver.status()
    assert not faulted.ready and "head-open" in faulted.faults
    assert cleared.ready and cleared.faults == ()


async def test_replies_split_into_single_bytes_are_reassembled(rig: Rig) -> None:
    await rig.driver.load(job(1))
    rig.single_bytes()
    async with asyncio.timeout(5):
        status = await rig.driver.status()
    assert status.ready and status.jobs_queued == 1


async def test_two_replies_in_one_read_a_stale_one_is_not_taken_for_the_answer(rig: Rig) -> None:
    rig.garbage(rig.stale_reply)
    rig.join_replies(2)
    async with asyncio.timeout(5):
        status = await rig.driver.status()
    assert status.ready and status.faults == () and status.print_count == 0


async def test_garbage_before_a_reply_is_skipped(rig: Rig) -> None:
    rig.garbage(b"\x00\xff\x7fnoise$\r\n")
    async with asyncio.timeout(5):
        status = await rig.driver.status()
    assert status.ready


async def test_connection_dropped_mid_reply_fails_that_request_and_the_next_reconnects(
    rig: Rig,
) -> None:
    rig.drop_after(3)
    async with asyncio.timeout(5):
        with pytest.raises(DeviceUnavailable):
            await rig.driver.status()
        status = await rig.driver.status()
    assert status.ready


async def test_printer_stopped_and_restarted_on_the_same_port_is_found_again(rig: Rig) -> None:
    async with asyncio.timeout(10):
        await rig.sim.close()
        with pytest.raises(DeviceUnavailable):
            await rig.driver.status()
        await rig.sim.start()
        await rig.driver.wait_connected()
        try:
            status = await rig.driver.status()
        except DeviceUnavailable:  # connected to a link that was still the old one: once more
            await rig.driver.wait_connected()
            status = await rig.driver.status()
    assert status.ready


async def test_close_twice_is_harmless_and_later_requests_fail_cleanly(rig: Rig) -> None:
    await rig.driver.close()
    await rig.driver.close()
    with pytest.raises(DeviceUnavailable, match="closed"):
        await rig.driver.status()
    with pytest.raises(DeviceUnavailable, match="closed"):
        await rig.driver.load(job(1))
