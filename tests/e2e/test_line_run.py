"""A batch through the whole line: the daemon prints, verifies and rejects every pack over sockets.

The simulators keep the ground truth (what was really printed on each pack, what the camera saw,
what the gate did); the ledger keeps what the daemon decided. They must agree pack by pack.
"""

from __future__ import annotations

import asyncio
import json
from collections import Counter
from pathlib import Path

import pytest

from linectl.ledger import Ledger
from linectl.line.control import Command
from simulators.line import Defect
from standards.packml import PackMLState
from tests.e2e.ground_truth import check_ground_truth, serial_of
from tests.e2e.rig import BATCH, ScriptedFaults, line_rig

pytestmark = pytest.mark.e2e

FORCED = {
    12: Defect.NO_PRINT,
    25: Defect.WRONG_CONTENT,
    40: Defect.DUPLICATE,
    55: Defect.LOW_CONTRAST,
    70: Defect.SMUDGE,
    85: Defect.NO_PRINT,
    100: Defect.WRONG_CONTENT,
    115: Defect.DUPLICATE,
    130: Defect.MISSING_MODULES,
    145: Defect.BLUR,
}


async def test_a_batch_with_injected_defects_rejects_each_bad_pack_with_its_reason(
    tmp_path: Path,
) -> None:
    rates = {d: 0.01 for d in Defect}
    faults = ScriptedFaults(seed=11, rates=rates, forced=FORCED)
    async with line_rig(tmp_path, packs=360, pool=420, packs_per_minute=1500, faults=faults) as rig:
        status = await rig.rt.command(Command.START, user="alice", reason="shift 1")
        assert status["state"]["name"] in ("STARTING", "EXECUTE")
        await rig.wait_state(PackMLState.COMPLETE)
        await rig.rt.line_end_done()

        counts = check_ground_truth(rig)
        assert counts["packs"] == 360 and counts["unserialised"] == 0
        assert counts["good"] + counts["reject"] == 360
        units = rig.units()
        for seq, defect in FORCED.items():
            pack = rig.line.history[seq]
            _, verdict, reason = units[seq]
            if defect in (Defect.NO_PRINT, Defect.WRONG_CONTENT, Defect.DUPLICATE):
                assert verdict == "reject" and reason == defect.value, (seq, reason)
            elif defect is Defect.LOW_CONTRAST:
                assert verdict == "reject" and reason in ("low-grade", "no-read"), (seq, reason)
            else:  # damage that may or may not still verify: never a false accept
                assert verdict == "good" or reason in ("no-read", "low-grade"), (seq, reason)
            assert pack.rejected == (verdict == "reject")
        clean = [s for s, p in rig.line.history.items() if p.defect is None]
        rejected = {s: units[s][2] for s in clean if units[s][1] != "good"}
        # a loaded 2-core box may make a verdict late (a fail-safe reject); nothing else may hit
        # a clean pack
        assert set(rejected.values()) <= {"late"} and len(rejected) <= 3, rejected

        # nothing was printed that the ledger does not know, and no serial twice
        states = rig.serial_states()
        marks = [r.data for r in rig.printer.engine.log if r.data is not None]
        defective = {Defect.WRONG_CONTENT.value, Defect.DUPLICATE.value}
        for r in rig.printer.engine.log:
            assert serial_of(r.intended) in states
        honest = [r.data for r in rig.printer.engine.log if r.defect not in defective and r.data]
        assert len(honest) == len(set(honest)) and len(marks) >= len(honest)

        status = rig.rt.status()
        assert status["counters"]["packs_gated"] == 360
        assert status["counters"]["commissioned"] == counts["good"]
        assert status["verdict_latency_ms"]["n"] == 360
        assert status["verdict_latency_ms"]["p99"] < rig.config.thresholds.verdict_deadline_ms
        expected_reasons = Counter(r for _, v, r in units.values() if v == "reject")
        cancelled = status["reject_reasons"].pop("cancelled", 0)
        assert status["reject_reasons"] == dict(expected_reasons)
        # the print-ahead jobs left when the batch completed, and the serials written ahead
        depth, chunk = rig.rt.options.queue_depth, rig.rt.options.take_chunk
        assert depth <= cancelled <= depth + chunk + chunk // 2

        closed = await rig.rt.command(Command.CLOSE_BATCH, user="alice", reason="done")
        rec = closed["result"]["reconciliation"]
        assert rec["balanced"] and rec["in_process"] == 0 and rec["received"] == 420
        assert rec["commissioned"] == counts["good"]
        assert rec["scrapped"] == counts["reject"] + cancelled
        assert closed["batch"] is None
        report = await asyncio.to_thread(rig.ledger.verify_audit)
        assert report.ok, str(report)
        commands = await asyncio.to_thread(_audit_commands, rig.ledger)
        assert commands["line.command"] >= 2 and commands["line.state"] >= 3
        assert commands["line.recovery"] == 1


def _audit_commands(ledger: Ledger) -> Counter[str]:
    return Counter(e.command for e in ledger.audit_entries(limit=100_000))


async def test_status_is_json_and_names_state_batch_pool_and_devices(tmp_path: Path) -> None:
    async with line_rig(tmp_path, packs=20, pool=40) as rig:
        status = rig.rt.status()
        json.dumps(status)
        assert status["state"] == {"name": "STOPPED", "number": 2}
        assert status["batch"]["batch"] == BATCH and status["pool"]["available"] == 40
        assert {d["state"] for d in status["devices"].values()} == {"connected"}
        assert rig.rt.alarms() == status["alarms"]
