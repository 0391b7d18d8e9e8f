"""Crash recovery before the first print, and a clean stop that leaves the ledger consistent.

Both lines send their events upstream; afterwards the invariants of issue 15 hold.
"""

from __future__ import annotations

import asyncio
import contextlib
from pathlib import Path

import pytest

from drivers.interfaces import PrintJob, Verdict
from drivers.plc import signals as sig
from drivers.plc.modbus import ModbusPlc
from drivers.zpl.client import ZplPrinter
from linectl.config import CodeForm
from linectl.ledger import Ledger, SerialState
from linectl.line.control import Command
from linectl.line.devices import connect_all, open_devices
from linectl.line.runtime import LineRuntime
from linectl.line.verify import CodeContent
from simulators.plc import PlcSimulator
from simulators.printer_zpl import ZplPrinterSimulator
from standards.packml import PackMLState
from tests.e2e.ground_truth import check_ground_truth, serial_of
from tests.e2e.rig import BATCH, EXPIRY, GTIN, LOT, line_rig

pytestmark = pytest.mark.e2e
S = PackMLState
CONTENT = CodeContent(CodeForm.ELEMENT_STRING_DATAMATRIX, gtin=GTIN, lot=LOT, expiry=EXPIRY)


async def test_what_a_crash_left_is_resolved_before_anything_is_printed(tmp_path: Path) -> None:
    left: list[str] = []

    async def crash_leftovers(ledger: Ledger, plc: PlcSimulator, zpl: ZplPrinterSimulator) -> None:
        await asyncio.to_thread(ledger.start_work_order, BATCH, actor="tester")
        left.extend(await asyncio.to_thread(ledger.take_for_encoding, BATCH, 5))
        printer = ZplPrinter("127.0.0.1", zpl.port)
        for n, serial in enumerate(left[:3], start=1):
            await printer.load(PrintJob(seq=n, data=CONTENT.data(serial)))
        await zpl.engine.wait_queued(3)
        await printer.close()
        old = ModbusPlc("127.0.0.1", plc.modbus_port)
        await old.write_verdict(2, Verdict.GOOD)
        await old.close()
        assert plc.gate_decision(2) == (True, Verdict.GOOD)

    async with line_rig(tmp_path, packs=30, pool=60, prepare=crash_leftovers, upstream=True) as rig:
        report = rig.rt.recovery
        assert report is not None
        assert report.printer_cleared and not rig.printer.engine.queue
        assert report.verdicts_revoked == 1 and rig.plc.gate_decision(2) == (False, Verdict.REJECT)
        assert report.scrapped == {BATCH: 5} and report.committed == {BATCH: 0}
        states = rig.serial_states()
        assert {states[s] for s in left} == {int(SerialState.LABEL_SCRAPPED)}
        assert rig.rt.status()["reject_reasons"] == {"crash-recovery": 5}

        await rig.rt.command(Command.START, user="alice")
        await rig.wait_state(S.COMPLETE)
        await rig.rt.line_end_done()
        counts = check_ground_truth(rig)
        assert counts["good"] == 30
        printed = {serial_of(r.data) for r in rig.printer.engine.log}
        assert not printed & set(left), "a serial written ahead before the crash was printed"
        await rig.check_invariants()


async def test_a_clean_stop_settles_the_ledger_and_a_restart_carries_on(tmp_path: Path) -> None:
    async with line_rig(tmp_path, packs=80, pool=200, upstream=True) as rig:
        await rig.rt.command(Command.START, user="alice")
        await rig.wait(lambda: rig.rt.status()["counters"]["packs_gated"] >= 40)
        await rig.rt.shutdown()
        assert rig.plc.state is S.STOPPED and rig.rt.phase == "stopped"
        assert not rig.printer.engine.queue
        counts = await asyncio.to_thread(rig.ledger.state_counts, BATCH)
        assert SerialState.ENCODED not in counts
        rec = await asyncio.to_thread(rig.ledger.reconcile, BATCH)
        assert rec.balanced and rec.in_process == 0 and rec.received == 200
        report = await asyncio.to_thread(rig.ledger.verify_audit)
        assert report.ok, str(report)
        # no GOOD is left in the PLC for a pack still on the conveyor
        gate_seq = rig.plc.value(sig.GATE_SEQ)
        for pack in rig.line.on_conveyor:
            if pack.seq > gate_seq:
                assert rig.plc.gate_decision(pack.seq)[0] is False, pack.seq

        devices = open_devices(rig.config)
        await connect_all(devices)
        again = LineRuntime(rig.config, rig.ledger, devices)
        rig.runtime, rig.devices = again, devices
        try:
            await again.start()  # resumes the one started batch
            assert again.batch is not None and again.batch.batch == BATCH
            await again.command(Command.START, user="alice", reason="after restart")
            await rig.wait_state(S.COMPLETE)
            await again.line_end_done()
            counts = check_ground_truth(rig)
            assert counts["packs"] == 80 and counts["good"] >= 60
            assert 0 < counts["unserialised"] <= 12  # the packs on the conveyor at the stop
            reasons = again.status()["reject_reasons"]
            assert reasons.get("line-stopped", 0) == counts["unserialised"]
        finally:
            with contextlib.suppress(Exception):
                await again.shutdown()
        await rig.check_invariants()
