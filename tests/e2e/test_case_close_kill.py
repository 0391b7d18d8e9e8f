"""Aggregation survives SIGKILL (issue 6, done-when 4): kill the daemon around case closes.

The simulators run in this process and keep running; the daemon is ``linectl run`` in a
subprocess, packing cases of 6 and pallets of 3. It is killed at seeded moments around case
closes: within 0.2 s after the gate passed the pack that fills a case (the daemon is reading
the gate, committing the units and closing the case with its event), just after a label
reached the case-label printer (the daemon is verifying it, stacking the case, maybe closing a
pallet), and just after a pallet filled on the simulated palletiser. After
every kill, with no daemon running, the ledger must show each case and pallet either closed with
its packing event (the event names exactly what it holds, after the SSCC's commissioning) or
still open with its units and no event - never half. Then the daemon restarts and the line
resumes. At the end the batch is closed: nothing left open holds anything, no good unit is in no
case, every physical case's label names the ledger case holding exactly its packs, and
``linectl audit verify`` passes, and the invariants of issue 15 hold with the events the daemon
sent upstream through every kill (``Rig.check_invariants``); a restart that finds the line held
names the alarm in status and log (``Daemon.check_told``).
"""

from __future__ import annotations

import asyncio
import json
import random
import sqlite3
from collections import Counter
from pathlib import Path

import pytest

from drivers.interfaces import GateOutcome
from linectl.cli import main as cli_main
from linectl.ledger.hierarchy import announced_children, orphans, parent_notations, tree
from linectl.line.control import Command
from standards.gs1.epc import Identifier
from standards.packml import PackMLState
from tests.e2e.ground_truth import serial_of
from tests.e2e.rig import BATCH, Rig, line_rig
from tests.e2e.test_crash_kill import Daemon, resume, until
from tests.people import People

pytestmark = pytest.mark.e2e
S = PackMLState

SEED = 20261206
CASE_SIZE, PALLET_SIZE = 6, 3
MOMENTS = ["case-closing"] * 5 + ["label-sent"] * 2 + ["pallet-filled"] * 2
SPEED = 1200.0  # packs/min: a case every 0.3 s
POOL = 1500
GUARD_S = 60.0


def check_never_half(path: Path, *, batch_end: bool = False) -> Counter[str]:
    """Assert the all-or-nothing rule for every case and pallet; count what was found."""
    seen: Counter[str] = Counter()
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        bodies = [json.loads(b) for (b,) in conn.execute("SELECT body FROM outbox ORDER BY id")]
        commissioned: dict[str, int] = {}
        for index, body in enumerate(bodies):
            if str(body.get("bizStep", "")).endswith("commissioning"):
                for epc in body.get("epcList", []):
                    commissioned.setdefault(epc, index)
        rows = conn.execute(
            "SELECT sscc, level, state FROM containers WHERE batch = ? ORDER BY sscc", (BATCH,)
        ).fetchall()
        for sscc, level, state in rows:
            names = parent_notations(sscc)
            events = [
                (i, b)
                for i, b in enumerate(bodies)
                if b.get("type") == "AggregationEvent" and b.get("parentID") in names
            ]
            told = announced_children(conn, names)
            if level == "case":
                inside = {
                    Identifier("sgtin", gtin, serial)
                    for gtin, serial in conn.execute(
                        "SELECT s.gtin, s.serial FROM units AS u JOIN serials AS s "
                        "ON s.id = u.serial_id WHERE u.container = ?",
                        (sscc,),
                    )
                }
                size = CASE_SIZE
            else:
                inside = {
                    Identifier("sscc", str(child), "")
                    for (child,) in conn.execute(
                        "SELECT sscc FROM containers WHERE parent = ?", (sscc,)
                    )
                }
                size = PALLET_SIZE
            what = f"{level} {sscc} ({state}, {len(inside)} inside)"
            if state == "closed":
                assert events, f"{what}: closed without its packing event"
                assert told == inside, f"{what}: its packing event names {len(told)} children"
                assert len(inside) == size or batch_end, f"{what}: closed short of {size}"
                for index, body in events:
                    assert commissioned.get(body["parentID"], index) < index, (
                        f"{what}: packed before its SSCC was commissioned"
                    )
                seen[f"{level} closed"] += 1
            else:
                assert state == "open", f"{what}: unexpected state"
                assert not events and not told, f"{what}: open, but a packing event names it"
                assert len(inside) < size, f"{what}: full, but still open"
                seen[f"{level} open{' with contents' if inside else ' empty'}"] += 1
    finally:
        conn.close()
    return seen


def ledger_cases_closed(path: Path) -> int:
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        (n,) = conn.execute(
            "SELECT count(*) FROM containers WHERE level = 'case' AND state = 'closed'"
        ).fetchone()
    finally:
        conn.close()
    return int(n)


async def kill_at(rig: Rig, daemon: Daemon, moment: str, rng: random.Random) -> str:
    """Wait for ``moment`` (then a seeded delay), SIGKILL the daemon; say where it landed."""
    packer, printer = rig.packer, rig.case_printer
    assert packer is not None and printer is not None

    def filled(boxes: list[object]) -> int:
        return sum(1 for b in boxes if getattr(b, "closed", False))

    def passed() -> int:
        return sum(1 for e in rig.plc.events if e.outcome is GateOutcome.PASSED)

    async with asyncio.timeout(GUARD_S):
        if moment == "case-closing":  # the gate passed the pack that fills a case
            target = (passed() // CASE_SIZE + rng.randint(1, 2)) * CASE_SIZE
            await rig.plc.wait_for(lambda: passed() >= target)
            await asyncio.sleep(rng.uniform(0.0, 0.2))
        elif moment == "label-sent":
            target = len(printer.labels) + rng.randint(1, 2)
            await packer.wait_for(lambda: len(printer.labels) >= target)
            await asyncio.sleep(rng.uniform(0.0, 0.03))
        else:
            target = filled(list(packer.pallets)) + 1
            await packer.wait_for(lambda: filled(list(packer.pallets)) >= target)
            await asyncio.sleep(rng.uniform(0.0, 0.03))
    through_gate = passed()
    await daemon.kill()
    behind = through_gate // CASE_SIZE - ledger_cases_closed(rig.ledger.path)
    return f"{moment}: {'before' if behind > 0 else 'after'} the case closed in the ledger"


async def test_sigkill_around_case_closes_never_leaves_a_case_half_closed(tmp_path: Path) -> None:
    rng = random.Random(SEED)
    moments = rng.sample(MOMENTS, len(MOMENTS))
    landed: Counter[str] = Counter()
    found: Counter[str] = Counter()
    limits = {"pool_low_water": 10, "consecutive_rejects_hold": 1000}
    aggregation = {"case_size": CASE_SIZE, "pallet_size": PALLET_SIZE}
    async with line_rig(
        tmp_path,
        daemon=False,
        packs=None,
        pool=POOL,
        packs_per_minute=SPEED,
        thresholds=limits,
        plc_watchdog_ms=500,
        aggregation=aggregation,
        upstream=True,
    ) as rig:
        daemon = Daemon(rig, tmp_path)
        for moment in moments:
            await daemon.spawn()
            await daemon.ready()
            await resume(rig, daemon)
            landed[await kill_at(rig, daemon, moment, rng)] += 1
            found += check_never_half(rig.ledger.path)

        # the end of the batch: 40 more packs, Complete, close-batch, then a clean stop
        await daemon.spawn()
        await daemon.ready()
        rig.line.packs_limit = rig.line.next_seq - 1 + 40
        await resume(rig, daemon)
        await until(rig, lambda: rig.plc.state is S.COMPLETE)
        assert await daemon.command(Command.CLOSE_BATCH, reason="kill test: batch end")
        assert daemon.child is not None
        await asyncio.to_thread(daemon.child.stop, 10.0)

        print(f"kills: {dict(landed)}; after kills: {dict(found)}; {daemon.starts} starts")
        print(f"found held after a restart, status and log named: {dict(daemon.told)}")
        assert sum(landed.values()) == len(MOMENTS)
        final = check_never_half(rig.ledger.path, batch_end=True)
        assert final["case closed"] >= 10 and final["pallet closed"] >= 3, final
        assert not final["case open with contents"] and not final["pallet open with contents"]
        assert rig.ledger.containers.read(orphans, BATCH) == [], "good units left in no case"
        # and the ledger still agrees with the packer: each labelled case holds its packs
        assert rig.packer is not None
        for case in rig.packer.cases:
            assert case.label is not None, f"physical case {case.number} got no label"
            node = rig.ledger.containers.read(tree, case.label.sscc)
            assert {u.serial for u in node.units} == {serial_of(c) for c in case.codes}
        await asyncio.to_thread(People(rig.ledger.path).log_in, "qa.vera", "qa")
        code = await asyncio.to_thread(
            cli_main, ["--ledger", str(rig.ledger.path), "audit", "verify"]
        )
        assert code == 0
        await rig.check_invariants()
