"""Each fail-safe of the line, shown end to end with the simulators (issue 4, done-when 3).

A late verdict is a reject; an unconfirmed reject holds the line; N rejects in a row hold it; an
empty pool suspends it; a lost printer or PLC holds it, and an operator's Unhold resumes it once
the device is back. While stopped, status and log name the alarm with its documented action
(docs/alarms.md). After each, the ground truth and the ledger agree pack by pack, and the
invariants of issue 15 hold (``Rig.check_invariants``: nothing printed twice, balanced, audit
verifies, no unit in two containers, every event upstream once).
"""

from __future__ import annotations

import asyncio
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from drivers.interfaces import GateOutcome, Verdict
from linectl.line.control import Command, CommandRefused
from linectl.line.devices import LineDevices
from simulators.line import Defect
from standards.packml import PackMLState
from tests.e2e.ground_truth import assert_rejects, check_ground_truth
from tests.e2e.rig import BATCH, GTIN, ScriptedFaults, line_rig, serials

pytestmark = pytest.mark.e2e
S = PackMLState


class HeldVerdicts:
    """The real PLC driver, except that the verdicts of chosen packs wait until released."""

    def __init__(self, plc: Any, held: dict[int, asyncio.Event]) -> None:
        self.plc = plc
        self.held = held

    async def write_verdict(self, seq: int, verdict: Verdict, reason: int = 0) -> None:
        release = self.held.get(seq)
        if release is not None:
            await release.wait()
        await self.plc.write_verdict(seq, verdict, reason)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.plc, name)


async def test_a_verdict_held_back_past_the_gate_makes_the_plc_reject_the_pack(
    tmp_path: Path,
) -> None:
    held = {30: asyncio.Event()}

    def wrap(devices: LineDevices) -> LineDevices:
        return replace(devices, plc=HeldVerdicts(devices.plc, held))

    async with line_rig(tmp_path, upstream=True, packs=60, pool=80, wrap=wrap) as rig:
        await rig.rt.command(Command.START, user="alice")
        await rig.wait(lambda: any(e.seq == 30 for e in rig.plc.events))
        held[30].set()  # the GOOD verdict now reaches the PLC: after the pack went by
        await rig.wait_state(S.COMPLETE)
        await rig.rt.line_end_done()
        assert rig.line.history[30].defect is None
        assert {e.seq: e.outcome for e in rig.plc.events}[30] is GateOutcome.REJECTED_CONFIRMED
        assert rig.plc.gate_decision(30) == (True, Verdict.GOOD)  # it did come, too late
        assert rig.line.history[30].rejected
        assert rig.units()[30][1:] == ("reject", "late")
        counts = check_ground_truth(rig)
        assert counts["reject"] + counts["good"] == 60
        assert_rejects(rig, {30})
        assert rig.operator_view().resumed  # the late verdict stopped nothing
        await rig.check_invariants()


async def test_a_verdict_that_would_miss_its_deadline_is_sent_as_a_reject(tmp_path: Path) -> None:
    limits = {"verdict_deadline_ms": 0.5, "consecutive_rejects_hold": 1000}
    async with line_rig(tmp_path, upstream=True, packs=20, pool=40, thresholds=limits) as rig:
        await rig.rt.command(Command.START, user="alice")
        await rig.wait_state(S.COMPLETE)
        await rig.rt.line_end_done()
        units = rig.units()
        assert {u[1:] for u in units.values()} == {("reject", "late")}
        assert all(rig.plc.gate_decision(seq) == (False, Verdict.REJECT) for seq in units)
        assert rig.rt.status()["counters"]["verdicts_late"] == 20
        assert check_ground_truth(rig)["good"] == 0
        await rig.check_invariants()


async def test_an_unconfirmed_reject_holds_the_line_with_an_alarm(tmp_path: Path) -> None:
    faults = ScriptedFaults(seed=2, forced={20: Defect.NO_PRINT})
    faults.fail_confirms = 1  # the sensor misses the first reject
    async with line_rig(tmp_path, upstream=True, packs=60, pool=80, faults=faults) as rig:
        await rig.rt.command(Command.START, user="alice")
        await rig.wait(lambda: rig.alarm("reject-unconfirmed"))
        await rig.wait_state(S.HELD)
        alarm = next(a for a in rig.rt.alarms() if a["code"] == "reject-unconfirmed")
        assert alarm["holds"] and "downstream" in alarm["message"]
        rig.assert_told("reject-unconfirmed")
        assert rig.rt.committer is not None
        await rig.rt.committer.flush()
        assert rig.units()[20][1:] == ("reject", "reject-unconfirmed")
        await rig.rt.command(Command.UNHOLD, user="bob", reason="pack 20 found and removed")
        assert not rig.alarm("reject-unconfirmed")
        await rig.wait_state(S.COMPLETE)
        await rig.rt.line_end_done()
        counts = check_ground_truth(rig)
        assert counts["packs"] == 60 and rig.units()[20][2] == "reject-unconfirmed"
        assert_rejects(rig, {20})
        await rig.check_invariants()


async def test_consecutive_rejects_hold_the_line_until_unhold(tmp_path: Path) -> None:
    forced = {seq: Defect.NO_PRINT for seq in range(15, 20)}
    faults = ScriptedFaults(seed=3, forced=forced)
    async with line_rig(tmp_path, upstream=True, packs=60, pool=90, faults=faults) as rig:
        await rig.rt.command(Command.START, user="alice")
        await rig.wait(lambda: rig.alarm("consecutive-rejects"))
        await rig.wait_state(S.HELD)
        rig.assert_told("consecutive-rejects")
        await rig.rt.command(Command.UNHOLD, user="bob", reason="printer checked")
        await rig.wait_state(S.COMPLETE)
        await rig.rt.line_end_done()
        counts = check_ground_truth(rig)
        assert counts["packs"] == 60
        assert_rejects(rig, set(forced))
        assert all(rig.units()[s][2] == "no-print" for s in forced)
        await rig.check_invariants()


async def test_an_empty_pool_suspends_the_line_until_it_is_refilled(tmp_path: Path) -> None:
    async with line_rig(tmp_path, upstream=True, packs=100, pool=40) as rig:
        await rig.rt.command(Command.START, user="alice")
        await rig.wait_state(S.SUSPENDED)
        assert rig.alarm("starved")
        rig.assert_told("starved")
        with pytest.raises(CommandRefused, match="pool"):
            await rig.rt.command(Command.UNSUSPEND, user="bob")
        at_printer = rig.line.next_seq - 1
        printed = {r.seq for r in rig.printer.engine.log}
        assert set(range(1, at_printer + 1)) <= printed, "a pack passed the printer unprinted"
        assert len(printed) == at_printer <= 40
        await asyncio.to_thread(
            rig.ledger.import_serials, BATCH, GTIN, serials(80, start=40), "upstream"
        )
        rig.rt.notify_pool_changed()  # the refill hook's way back in: Unsuspend on its own
        await rig.wait_state(S.COMPLETE)
        await rig.rt.line_end_done()
        assert not rig.alarm("starved")
        counts = check_ground_truth(rig)
        assert counts["packs"] == 100 and counts["unserialised"] == 0
        assert_rejects(rig, set())
        await rig.check_invariants()


async def test_a_printer_disconnect_holds_the_line_and_unhold_resumes_it_once_back(
    tmp_path: Path,
) -> None:
    async with line_rig(tmp_path, upstream=True, packs=70, pool=150, cut_links=True) as rig:
        assert rig.printer_link is not None
        await rig.rt.command(Command.START, user="alice")
        await rig.wait(lambda: rig.rt.status()["counters"]["packs_gated"] >= 30)
        await rig.printer_link.cut()
        await rig.wait(lambda: rig.device("printer") == "lost")
        await rig.wait_state(S.HELD)
        assert rig.alarm("device-lost:printer")
        rig.assert_told("device-lost:printer")
        with pytest.raises(CommandRefused, match="printer"):
            await rig.rt.command(Command.UNHOLD, user="bob")
        rig.printer_link.restore()
        await rig.wait(lambda: rig.device("printer") == "connected")
        await rig.rt.command(Command.UNHOLD, user="bob", reason="printer cable fixed")
        await rig.wait_state(S.COMPLETE)
        await rig.rt.line_end_done()
        counts = check_ground_truth(rig)
        assert counts["packs"] == 70 and counts["good"] >= 50
        await rig.check_invariants()


async def test_a_camera_disconnect_rejects_what_it_missed_and_unhold_resumes_it_once_back(
    tmp_path: Path,
) -> None:
    async with line_rig(tmp_path, upstream=True, packs=70, pool=150, cut_links=True) as rig:
        assert rig.camera_link is not None
        await rig.rt.command(Command.START, user="alice")
        await rig.wait(lambda: rig.rt.status()["counters"]["packs_gated"] >= 30)
        await rig.camera_link.cut()
        await rig.wait(lambda: rig.device("camera") == "lost")
        await rig.wait_state(S.HELD)
        assert rig.alarm("device-lost:camera")
        rig.assert_told("device-lost:camera")
        rig.camera_link.restore()
        await rig.wait(lambda: rig.device("camera") == "connected")
        await rig.rt.command(Command.UNHOLD, user="bob", reason="camera cable fixed")
        await rig.wait_state(S.COMPLETE)
        await rig.rt.line_end_done()
        counts = check_ground_truth(rig)  # the packs it did not see were rejected, none passed
        assert counts["packs"] == 70 and counts["good"] >= 50
        await rig.check_invariants()


async def test_a_plc_disconnect_holds_the_line_and_unhold_resumes_it_once_back(
    tmp_path: Path,
) -> None:
    async with line_rig(
        tmp_path, upstream=True, packs=70, pool=150, cut_links=True, plc_watchdog_ms=300
    ) as rig:
        assert rig.plc_link is not None
        await rig.rt.command(Command.START, user="alice")
        await rig.wait(lambda: rig.rt.status()["counters"]["packs_gated"] >= 30)
        await rig.plc_link.cut()
        await rig.wait(lambda: rig.plc.state is S.HELD)  # the PLC's own watchdog
        await rig.wait(lambda: rig.device("plc") == "lost")
        assert rig.alarm("device-lost:plc")
        rig.plc_link.restore()
        await rig.wait(lambda: rig.device("plc") == "connected")
        await rig.wait_state(S.HELD)
        rig.assert_told("device-lost:plc")
        await rig.rt.command(Command.UNHOLD, user="bob", reason="switch replaced")
        await rig.wait_state(S.COMPLETE)
        await rig.rt.line_end_done()
        counts = check_ground_truth(rig)
        assert counts["packs"] == 70 and counts["good"] >= 50
        await rig.check_invariants()
