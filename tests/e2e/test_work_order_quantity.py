"""The work order's quantity is enforced on the running line: it stops once the quantity is made,
never commissions more than quantity + overrun allowance, and the reconciliation shows planned
against made. A label-roll change recorded while it runs reaches the commissioning events of the
units judged after it."""

from __future__ import annotations

import asyncio
import json
import sqlite3
from pathlib import Path

from linectl.ledger import Ledger
from linectl.ledger.batch_record import MaterialChange
from linectl.line.control import Command
from standards.packml import PackMLState
from tests.e2e.ground_truth import check_ground_truth
from tests.e2e.rig import BATCH, line_rig

QUANTITY = 40
ALLOWANCE = 4  # 10 % of 40


def _new_roll(path: str) -> MaterialChange:
    """``linectl batch material`` on the running line's ledger, from another connection."""
    with Ledger(path) as other:
        return other.batches.change_material(BATCH, "label-roll", "LR-778", actor="op.otto")


def _lots_by_serial(ledger: Ledger) -> dict[str, dict[str, str]]:
    """serial -> the material lots its commissioning event carries."""
    lots: dict[str, dict[str, str]] = {}
    for entry in ledger.outbox.peek(100_000):
        body = json.loads(entry.body)
        if entry.kind != "commissioning" or "ilmd" not in body:
            continue
        carried = {
            m["linectl:material"]: m["linectl:lot"]
            for m in body["ilmd"].get("linectl:packagingMaterialLots", [])
        }
        for epc in body["epcList"]:
            lots[epc.rsplit(".", 1)[1]] = carried
    return lots


def _judged_after(path: str, mark: int) -> list[str]:
    """Serials commissioned in history rows after ``mark`` (read on a plain connection)."""
    conn = sqlite3.connect(path)
    try:
        rows = conn.execute(
            "SELECT s.serial FROM serial_history AS h JOIN serials AS s ON s.id = h.serial_id "
            "WHERE h.id > ? AND h.to_state = 7",
            (mark,),
        ).fetchall()
    finally:
        conn.close()
    return [str(r[0]) for r in rows]


def _stops(ledger: Ledger) -> list[tuple[str, str]]:
    return [
        (e.actor, e.reason)
        for e in ledger.audit_entries(limit=100_000)
        if e.command == "line.command" and json.loads(e.before or "{}").get("command") == "stop"
    ]


async def test_the_line_stops_at_the_quantity_and_commissions_no_more_than_the_allowance(
    tmp_path: Path,
) -> None:
    async with line_rig(
        tmp_path, packs=200, pool=200, quantity=QUANTITY, thresholds={"overrun_percent": 10.0}
    ) as rig:
        await rig.rt.command(Command.START, user="alice", reason="shift 1")
        await rig.wait_state(PackMLState.EXECUTE)
        await rig.wait(lambda: rig.rt.tally.counters["commissioned"] >= 10)
        change = await asyncio.to_thread(_new_roll, rig.ledger.path)

        def stopped_at_quantity() -> bool:
            return rig.rt.quantity_reached == BATCH and rig.rt.plc_state is PackMLState.STOPPED

        await rig.wait(stopped_at_quantity)
        await rig.rt.line_end_done()
        status = rig.rt.status()
        assert status["batch"]["quantity"] == QUANTITY
        assert status["batch"]["quantity_limit"] == QUANTITY + ALLOWANCE
        assert status["batch"]["quantity_reached"] is True
        assert rig.plc.state is PackMLState.STOPPED  # the PLC stopped: it did not run out of packs
        assert len(rig.line.history) < 200

        closed = await rig.rt.command(Command.CLOSE_BATCH, user="alice", reason="done")
        rec = closed["result"]["reconciliation"]
        assert rec["balanced"] and rec["planned"] == QUANTITY
        assert QUANTITY <= rec["made"] <= QUANTITY + ALLOWANCE, rec
        assert rec["commissioned"] == rec["made"]
        counts = check_ground_truth(rig)  # and no false accept on the way
        assert counts["good"] == rec["made"]
        await rig.rt.audit_trail.drain()  # the line's audit rows are written by a task
        stops = await asyncio.to_thread(_stops, rig.ledger)
        assert [
            actor
            for actor, reason in stops
            if reason.startswith(f"work order quantity {QUANTITY} reached")
        ] == ["linectl"], stops
        lots = await asyncio.to_thread(_lots_by_serial, rig.ledger)
        after = await asyncio.to_thread(_judged_after, rig.ledger.path, change.history_mark)
        assert after and all(lots[s] == {"label-roll": "LR-778"} for s in after)
        before = set(lots) - set(after)
        assert len(before) >= 10 and all(lots[s] == {} for s in before)
        text = rig.ledger.reconcile(BATCH).to_table()
        assert f"planned {QUANTITY}, made {rec['made']}" in text
