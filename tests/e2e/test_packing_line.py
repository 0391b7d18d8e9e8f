"""Cases and pallets on the running line: the daemon's ledger against the simulated case packer.

The case packer at the end of the simulated line keeps the ground truth (which pack went into
which physical case, which label went onto which case, which case onto which pallet); the ledger
keeps what the daemon packed, labelled and verified. They must agree case by case. After a
fault (a label that does not read, a case-label printer or reader cut) status and log name the
alarm with its documented action, and at the end the invariants of issue 15 hold, upstream too.
"""

from __future__ import annotations

import asyncio
import json
import sqlite3
from pathlib import Path
from typing import Any

import pytest

from linectl.ledger.hierarchy import announced_children, parent_notations, tree
from linectl.line.control import Command
from simulators.case_packer import CASE, PALLET
from simulators.line import Defect
from standards.packml import PackMLState
from tests.e2e.ground_truth import serial_of
from tests.e2e.rig import Rig, ScriptedFaults, line_rig

pytestmark = pytest.mark.e2e

FORCED = {7: Defect.NO_PRINT, 19: Defect.WRONG_CONTENT, 33: Defect.DUPLICATE, 50: Defect.SMUDGE}


def ledger_tree(rig: Rig, sscc: str) -> tuple[set[str], list[str]]:
    """(serials under the container, SSCCs of its child cases) as the ledger holds them."""
    node = rig.ledger.containers.read(tree, sscc)
    serials = {u.serial for n in node.walk() for u in n.units}
    return serials, [child.container.sscc for child in node.children]


def packing_events(rig: Rig) -> list[dict[str, Any]]:
    conn = sqlite3.connect(rig.ledger.path)
    try:
        rows = conn.execute("SELECT body FROM outbox ORDER BY id").fetchall()
    finally:
        conn.close()
    return [json.loads(body) for (body,) in rows]


async def test_every_case_and_pallet_holds_exactly_what_the_packer_put_on_it(
    tmp_path: Path,
) -> None:
    faults = ScriptedFaults(seed=5, forced=FORCED)
    aggregation = {"case_size": 6, "pallet_size": 3}
    async with line_rig(
        tmp_path, packs=100, pool=140, packs_per_minute=1500, faults=faults, aggregation=aggregation
    ) as rig:
        assert rig.packer is not None
        await rig.rt.command(Command.START, user="alice", reason="shift 1")
        await rig.wait_state(PackMLState.COMPLETE)
        closed = await rig.rt.command(Command.CLOSE_BATCH, user="alice", reason="done")
        packed = closed["result"]["packing"]
        rec = closed["result"]["reconciliation"]

        good = sum(1 for p in rig.line.history.values() if p.rejected is False)
        assert good == rec["commissioned"] and good < 100  # the forced defects were rejected
        cases, pallets = rig.packer.cases, rig.packer.pallets
        assert len(cases) == -(-good // 6) and cases[-1].partial == (good % 6 != 0)
        assert len(pallets) == -(-len(cases) // 3)
        assert packed == {
            "cases": len(cases),
            "pallets": len(pallets),
            "orphans": 0,
            "orphan_policy": "hold",
            "awaiting_label": [],
            "diverted": [],
        }
        for case in cases:  # every physical case: its label names the ledger case with its packs
            assert case.closed and case.label is not None and case.pallet is not None
            serials, _ = ledger_tree(rig, case.label.sscc)
            assert serials == {serial_of(code) for code in case.codes}, case.number
        for pallet in pallets:
            assert pallet.label is not None
            serials, children = ledger_tree(rig, pallet.label.sscc)
            assert serials == {serial_of(c) for c in rig.packer.codes_on_pallet(pallet.number)}
            on_it = [rig.packer.box(CASE, n).label for n in pallet.cases]
            assert sorted(children) == sorted(label.sscc for label in on_it if label)
        assert {c["level"] for c in rec["containers"]} == {"case", "pallet"}
        assert all(c["state"] == "closed" for c in rec["containers"])
        assert rec["orphans"]["count"] == 0 and rec["balanced"]

        # events: each SSCC commissioned before the packing event that names it as parent
        events = packing_events(rig)
        first_seen: dict[str, int] = {}
        for index, body in enumerate(events):
            for epc in body.get("epcList", []):
                first_seen.setdefault(epc, index)
        for index, body in enumerate(events):
            if body.get("type") == "AggregationEvent":
                assert body["bizStep"].endswith("packing") and body["action"] == "ADD"
                assert first_seen[body["parentID"]] < index
        conn = sqlite3.connect(rig.ledger.path)
        try:
            for box in cases + pallets:
                assert box.label is not None
                told = announced_children(conn, parent_notations(box.label.sscc))
                level = "sscc" if box.level == PALLET else "sgtin"
                assert len(told) == (len(box.cases) if box.level == PALLET else box.units)
                assert {i.scheme for i in told} == {level}
        finally:
            conn.close()
        report = await rig.check_invariants()  # events and rows agree for units and cases alike
        assert report.containers == len(cases) + len(pallets)
        status = rig.rt.status()
        assert status["packing"] is None or status["packing"]["batch"] is None
        report = await asyncio.to_thread(rig.ledger.verify_audit)
        assert report.ok, str(report)


async def test_a_label_that_does_not_read_is_reprinted_then_the_case_is_diverted(
    tmp_path: Path,
) -> None:
    aggregation = {"case_size": 4, "pallet_size": 2, "label_attempts": 2}
    async with line_rig(
        tmp_path, packs=40, pool=60, packs_per_minute=1200, aggregation=aggregation, upstream=True
    ) as rig:
        assert rig.packer is not None and rig.rt.packing is not None
        packing = rig.rt.packing
        rig.case_reader.fail_next = 1  # the first case's first read
        await rig.rt.command(Command.START, user="alice", reason="shift 1")
        await rig.wait(lambda: packing.counters["labels_accepted"] >= 1)
        assert packing.counters["label_reprints"] == 1 and not rig.alarm("case-label")
        first = rig.packer.cases[0]
        rig.case_reader.fail_next = 2  # both reads of the second case: it is diverted
        await rig.wait(lambda: packing.counters["diversions"] == 1)
        second = rig.packer.cases[1]
        assert second.label is not None and second.pallet is None  # it never reached the pallet
        assert rig.alarm("case-diverted")
        view = rig.operator_view()  # the line runs on, and says what to do with the case
        assert view.resumed and any(t.startswith("case-diverted: ") for t in view.told), view
        assert "rework the container" in next(t for t in view.told if "diverted" in t)
        status = rig.rt.status()["packing"]
        assert status["diverted"] == [second.label.sscc]
        assert status["case_size"] == 4 and status["cases_closed"] >= 2
        await rig.wait_state(PackMLState.COMPLETE)
        closed = await rig.rt.command(Command.CLOSE_BATCH, user="alice", reason="done")
        assert closed["result"]["packing"]["diverted"] == [second.label.sscc]
        assert first.label is not None
        _, children = ledger_tree(rig, rig.packer.pallets[0].label.sscc)  # type: ignore[union-attr]
        assert first.label.sscc in children and second.label.sscc not in children
        parent = rig.ledger.containers.get(second.label.sscc).parent
        assert parent is None  # closed, not accepted: for rework
        audit = [e for e in rig.ledger.audit_entries(limit=10_000) if e.command == "label.verify"]
        fails = [e for e in audit if json.loads(e.after)["ok"] is False]
        assert len(fails) == 3  # one reprint of the first case, two of the diverted one
        await rig.check_invariants()


async def test_status_shows_the_open_case_and_pallet(tmp_path: Path) -> None:
    aggregation = {"case_size": 5, "pallet_size": 4}
    async with line_rig(
        tmp_path, packs=12, pool=30, packs_per_minute=1200, aggregation=aggregation
    ) as rig:
        packing = rig.rt.packing
        assert packing is not None
        await rig.rt.command(Command.START, user="alice", reason="shift 1")
        await rig.wait_state(PackMLState.COMPLETE)
        await rig.wait(lambda: packing.doing == "idle" and packing.counters["cases_closed"] == 2)
        status = rig.rt.status()["packing"]
        json.dumps(status)
        assert status["case_units"] == 2 and status["case"] is not None
        assert status["pallet_cases"] == 2 and status["pallet"] is not None
        assert status["labels_accepted"] == 2 and status["awaiting_label"] == []
        assert rig.rt.status()["devices"]["case-printer"]["state"] == "connected"


async def test_a_case_label_printer_cut_while_a_label_waits_reconnects_and_unhold_resumes(
    tmp_path: Path,
) -> None:
    """Issue 15, defect 2: the case-label printer's link cut for a moment held the line for ever:
    the device counted as back only once its label was confirmed, which needs the line to move,
    so Unhold was refused ("devices not answering: case_printer") until Stop and Start."""
    aggregation = {"case_size": 6, "pallet_size": 3}
    async with line_rig(
        tmp_path, packs=90, pool=130, packs_per_minute=1200, aggregation=aggregation,
        cut_links=True, upstream=True,
    ) as rig:  # fmt: skip
        assert rig.case_printer_link is not None and rig.packer is not None
        await rig.rt.command(Command.START, user="alice", reason="shift 1")
        await rig.wait(lambda: len(rig.packer.cases) >= 3)
        await rig.case_printer_link.cut()  # while labels are being printed and confirmed
        await rig.wait(lambda: rig.device("case-printer") == "lost")
        await rig.wait_state(PackMLState.HELD)
        rig.assert_told("device-lost:case-printer")
        await asyncio.sleep(1.0)
        rig.case_printer_link.restore()
        await rig.wait(lambda: rig.device("case-printer") == "connected")
        await rig.rt.command(Command.UNHOLD, user="bob", reason="label printer cable fixed")
        await rig.wait_state(PackMLState.COMPLETE)
        closed = await rig.rt.command(Command.CLOSE_BATCH, user="alice", reason="done")
        assert closed["result"]["reconciliation"]["balanced"]
        assert closed["result"]["packing"]["orphans"] == 0
        for case in rig.packer.cases:  # each label still names the case with its packs
            assert case.label is not None
            serials, _ = ledger_tree(rig, case.label.sscc)
            assert serials == {serial_of(code) for code in case.codes}, case.number
        await rig.check_invariants()


async def test_a_case_label_reader_cut_holds_the_line_and_unhold_resumes_it_once_back(
    tmp_path: Path,
) -> None:
    aggregation = {"case_size": 6, "pallet_size": 3}
    async with line_rig(
        tmp_path, packs=90, pool=130, packs_per_minute=1200, aggregation=aggregation,
        cut_links=True, upstream=True,
    ) as rig:  # fmt: skip
        assert rig.case_reader_link is not None and rig.packer is not None
        await rig.rt.command(Command.START, user="alice", reason="shift 1")
        await rig.wait(lambda: len(rig.packer.cases) >= 3)
        await rig.case_reader_link.cut()
        await rig.wait(lambda: rig.device("case-reader") == "lost")
        await rig.wait_state(PackMLState.HELD)
        rig.assert_told("device-lost:case-reader")
        await asyncio.sleep(1.0)
        rig.case_reader_link.restore()
        await rig.wait(lambda: rig.device("case-reader") == "connected")
        await rig.rt.command(Command.UNHOLD, user="bob", reason="reader cable fixed")
        await rig.wait_state(PackMLState.COMPLETE)
        closed = await rig.rt.command(Command.CLOSE_BATCH, user="alice", reason="done")
        assert closed["result"]["reconciliation"]["balanced"]
        assert closed["result"]["packing"]["orphans"] == 0
        await rig.check_invariants()
