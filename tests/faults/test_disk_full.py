"""Issue 15, defect 4: the ledger's disk fills while the line runs.

Seen before: the line held for ever, unhold refused even after space was freed, and the first
cause ("commit failed") replaced by a later one. Now a write the disk refuses is kept and retried:
the line holds with the first cause in its alarm, unhold is refused while the disk is still full,
and once space is back the held outcomes are written, unhold goes through and the batch ends
balanced with nothing lost. SQLite's ``max_page_count`` makes the daemon's own connection see a
full disk (SQLITE_FULL, the error ENOSPC gives), with no file system to mount.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from linectl.ledger import Ledger, SerialState
from linectl.line.control import Command, CommandRefused
from standards.packml import PackMLState as S
from tests.e2e.rig import BATCH, check_ground_truth, line_rig

pytestmark = pytest.mark.e2e


def _disk(ledger: Ledger, *, full: bool) -> None:
    """Let the ledger's connection grow (``full=False``) or not by a single page."""
    with ledger._db.write() as conn:  # the daemon's own connection, under its lock
        pages = int(conn.execute("PRAGMA page_count").fetchone()[0])
        conn.execute(f"PRAGMA max_page_count = {pages if full else 1_000_000_000}")


async def test_a_full_disk_holds_the_line_and_nothing_is_lost_once_space_is_back(
    tmp_path: Path,
) -> None:
    async with line_rig(tmp_path, packs=160, pool=200, packs_per_minute=1200) as rig:
        await rig.rt.command(Command.START, user="alice")
        await rig.wait(lambda: rig.rt.status()["counters"]["packs_gated"] >= 40)
        await asyncio.to_thread(_disk, rig.ledger, full=True)

        await rig.wait(lambda: rig.alarm("ledger"))
        await rig.wait_state(S.HELD)

        def alarm() -> dict[str, Any]:
            return next(a for a in rig.rt.alarms() if a["code"] == "ledger")

        first = alarm()
        assert "database or disk is full" in first["message"], first
        assert "retried" in first["message"], first  # it says what happens next
        await rig.wait(lambda: alarm()["count"] > 2)  # retried, and refused again
        now = alarm()
        assert now["message"] == first["message"] and now["since"] == first["since"]
        with pytest.raises(CommandRefused, match="ledger"):
            await rig.rt.command(Command.UNHOLD, user="bob", reason="too early")

        await asyncio.to_thread(_disk, rig.ledger, full=False)  # space is back
        await rig.wait(lambda: rig.rt.ledger_trouble.healthy)  # each writer's next retry
        await rig.rt.command(Command.UNHOLD, user="bob", reason="disk cleaned up")
        assert not rig.alarm("ledger")
        await rig.wait_state(S.COMPLETE)
        await rig.rt.line_end_done()

        counts = check_ground_truth(rig)  # every pack judged, none lost
        assert counts["packs"] == 160
        states = await asyncio.to_thread(rig.ledger.state_counts, BATCH)
        assert SerialState.ENCODED not in states, states
        rec = await asyncio.to_thread(rig.ledger.reconcile, BATCH)
        assert rec.balanced, rec
        report = await asyncio.to_thread(rig.ledger.verify_audit)
        assert report.ok, str(report)
