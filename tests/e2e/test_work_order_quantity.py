"""The work order's quantity is enforced on the running line: it stops once the quantity is made,
never commissions more than quantity + overrun allowance, and the reconciliation shows planned
against made."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

from linectl.ledger import Ledger
from linectl.line.control import Command
from standards.packml import PackMLState
from tests.e2e.rig import BATCH, check_ground_truth, line_rig

QUANTITY = 40
ALLOWANCE = 4  # 10 % of 40


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
        stops = await asyncio.to_thread(_stops, rig.ledger)
        assert [
            actor
            for actor, reason in stops
            if reason.startswith(f"work order quantity {QUANTITY} reached")
        ] == ["linectl"], stops
        text = rig.ledger.reconcile(BATCH).to_table()
        assert f"planned {QUANTITY}, made {rec['made']}" in text
