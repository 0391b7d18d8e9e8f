"""A batch verified by a smart reader (Cognex DMCC, Keyence SR) instead of the camera.

The reader simulator stands at the camera station and reads whatever pack is there when the
daemon triggers it: what the printer simulator marked on it (print defects), damaged as the pack's
image defect says, with the reader's own ISO/IEC 15415 grade. The daemon triggers it for each seq
the PLC reports at the camera, pairs the read with that seq and verifies it. The simulators keep
the ground truth; the ledger must agree with it pack by pack.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from linectl.line.control import Command
from linectl.line.verify import grade_meets
from simulators.line import Defect
from standards.packml import PackMLState
from tests.e2e.ground_truth import serial_of
from tests.e2e.rig import Rig, ScriptedFaults, line_rig

pytestmark = pytest.mark.e2e

FORCED = {
    10: Defect.NO_PRINT,
    22: Defect.WRONG_CONTENT,
    34: Defect.DUPLICATE,
    46: Defect.LOW_CONTRAST,
    58: Defect.SMUDGE,
}
PACKS = 70  # each defect kind once, with clean packs between and after
# A reader reports a no-read for an empty pack: it cannot tell it from an unreadable code.
REASONS = {
    Defect.NO_PRINT: {"no-read"},
    Defect.WRONG_CONTENT: {"wrong-content"},
    Defect.DUPLICATE: {"duplicate"},
    Defect.LOW_CONTRAST: {"low-grade", "no-read"},
    Defect.SMUDGE: {"low-grade", "no-read"},
    Defect.BLUR: {"low-grade", "no-read"},
}
TIMING = ("late", "no-read")  # what a starved 2-core box may do to a clean pack (fail-safe)


def grades(rig: Rig) -> dict[int, str | None]:
    """seq -> the grade the ledger recorded for its unit."""
    conn = sqlite3.connect(rig.ledger.path)
    try:
        return {int(seq): grade for seq, grade in conn.execute("SELECT seq, grade FROM units")}
    finally:
        conn.close()


async def run_batch(rig: Rig) -> dict[str, int]:
    """Start, run to Complete, close the batch; check the ledger against the ground truth."""
    await rig.rt.command(Command.START, user="alice", reason="shift 1")
    await rig.wait_state(PackMLState.COMPLETE)
    await rig.rt.line_end_done()
    units = rig.units()
    minimum = rig.config.thresholds.min_grade
    graded = grades(rig)
    counts = {"good": 0, "reject": 0, "clean_rejected": 0}
    clean_rejects: dict[int, str | None] = {}
    sent = {serial_of(p.intended) for p in rig.line.history.values()}
    for seq, pack in sorted(rig.line.history.items()):
        serial, verdict, reason = units[seq]
        assert serial_of(pack.intended) == serial, f"pack {seq}: ledger serial {serial}"
        assert pack.rejected == (verdict != "good"), f"pack {seq}: {verdict} vs gate"
        if verdict == "good":
            counts["good"] += 1
            assert pack.printed == pack.intended, f"FALSE ACCEPT pack {seq}: {pack.printed!r}"
            assert pack.defect is None, f"FALSE ACCEPT pack {seq} ({pack.defect})"
            assert grade_meets(graded[seq], minimum), f"pack {seq} passed at {graded[seq]}"
            continue
        counts["reject"] += 1
        if pack.defect is None:
            counts["clean_rejected"] += 1
            clean_rejects[seq] = reason
            assert reason in TIMING, f"FALSE REJECT pack {seq}: {reason}"
        else:
            assert reason in REASONS[pack.defect], f"pack {seq} ({pack.defect}): {reason}"
        if reason == "low-grade":
            assert graded[seq] is not None and not grade_meets(graded[seq], minimum)
    assert sent <= set(s for s, _, _ in units.values())
    # at most a few fail-safe rejects of clean packs on a starved box; every one measured here
    assert counts["clean_rejected"] <= 3, (counts, clean_rejects)
    closed = await rig.rt.command(Command.CLOSE_BATCH, user="alice", reason="done")
    rec = closed["result"]["reconciliation"]
    assert rec["balanced"] and rec["in_process"] == 0
    assert rec["commissioned"] == counts["good"]
    print(f"{rig.config.devices['camera'].protocol}: {counts}")  # shown with -s
    return counts


@pytest.mark.parametrize("protocol", ["dmcc", "keyence"])
async def test_a_reader_verified_batch_rejects_each_defect_with_its_reason(
    tmp_path: Path, protocol: str
) -> None:
    faults = ScriptedFaults(seed=5, forced=FORCED)
    async with line_rig(
        tmp_path, verifier=protocol, packs=PACKS, pool=PACKS + 40, packs_per_minute=900,
        faults=faults,
    ) as rig:  # fmt: skip
        counts = await run_batch(rig)
        units = rig.units()
        for seq, defect in FORCED.items():
            assert units[seq][1] == "reject", (seq, defect, units[seq])
        assert counts["good"] >= PACKS - len(FORCED) - 3
        assert rig.reader.triggers >= PACKS - 3
        station = rig.rt.reader_station
        assert station is not None and station.reads >= PACKS - 3


async def test_a_reader_grade_below_the_line_minimum_rejects(tmp_path: Path) -> None:
    # the simulated reader grades a blurred code C (when it reads it), clean ones A or B
    forced = {n: Defect.BLUR for n in range(5, 60, 6)}
    faults = ScriptedFaults(seed=3, forced=forced)
    async with line_rig(
        tmp_path, verifier="keyence", packs=60, pool=100, packs_per_minute=600, faults=faults,
        thresholds={"min_grade": "B"},
    ) as rig:  # fmt: skip
        await run_batch(rig)
        units, graded = rig.units(), grades(rig)
        low = [seq for seq in forced if graded[seq] == "C"]
        assert low, "no blurred code was read at all"
        for seq in low:
            assert units[seq][1:] == ("reject", "low-grade"), (seq, units[seq])


async def test_a_reader_that_stops_answering_rejects_its_pack_and_holds_until_unhold(
    tmp_path: Path,
) -> None:
    async with line_rig(
        tmp_path, verifier="dmcc", packs=80, pool=120, packs_per_minute=600, upstream=True
    ) as rig:  # fmt: skip
        await rig.rt.command(Command.START, user="alice")
        await rig.wait(lambda: rig.rt.tally.counters["verdicts_good"] >= 20)
        rig.reader.faults.silent = True  # triggers get no answer: each read times out
        await rig.wait(lambda: rig.alarm("device-lost:camera"))
        await rig.wait_state(PackMLState.HELD)
        rig.assert_told("device-lost:camera")  # status and log say what to do
        rig.reader.faults.silent = False
        station = rig.rt.reader_station
        assert station is not None
        # the last trigger sent while it was silent has timed out; the reader answers again
        await rig.wait(lambda: station.reading is None and rig.device("camera") == "connected")
        await rig.rt.command(Command.UNHOLD, user="bob", reason="reader checked")
        assert not rig.alarm("device-lost:camera")
        await rig.wait_state(PackMLState.COMPLETE)
        await rig.rt.line_end_done()
        units = rig.units()
        timed_out = [s for s, (_, v, why) in units.items() if v != "good"]
        assert timed_out and all(units[s][2] in ("no-read", "late") for s in timed_out), {
            s: units[s][2] for s in timed_out
        }
        for seq, pack in rig.line.history.items():
            assert pack.rejected == (units[seq][1] != "good"), seq
            assert units[seq][1] != "good" or pack.printed == pack.intended
        closed = await rig.rt.command(Command.CLOSE_BATCH, user="alice", reason="done")
        assert closed["result"]["reconciliation"]["balanced"]
        await rig.check_invariants()
