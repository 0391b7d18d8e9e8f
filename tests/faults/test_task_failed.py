"""Issue 15, defect 4: a core task that fails for a reason the daemon cannot fix in place.

Seen before: the line held for ever, silently, the systemd watchdog kept being fed and a later
alarm replaced the first cause. Now the daemon stops and exits 1 with the first cause in its log
(the unit's Restart=on-failure starts it again), and at the next start recovery settles the packs
that were in flight, so the batch still ends with every pack accounted for.

The fault: a trigger another program left in the ledger refuses every new unit row, so the
committer's transaction fails with a constraint error (not the disk: that is retried in place,
see test_disk_full.py).
"""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
import sys
from pathlib import Path

import pytest

from linectl.ledger import SerialState
from linectl.line.control import Command
from linectl.line.devices import connect_all, open_devices
from linectl.line.runtime import LineRuntime
from standards.packml import PackMLState
from tests.e2e.ground_truth import check_ground_truth
from tests.e2e.rig import BATCH, line_rig
from tests.e2e.rig_upstream import epcis_toml
from tests.e2e.test_daemon_process import config_text

pytestmark = pytest.mark.e2e
REPO = Path(__file__).resolve().parents[2]
TRAP = "injected: a unit row refused by a foreign trigger"
# 20 packs before the fault, the ones in flight when the daemon goes down, the rest after the
# restart: enough of each at 600 packs/min without 15 s of line time
PACKS = 60


def _trap(ledger: Path, *, armed: bool) -> None:
    conn = sqlite3.connect(ledger, timeout=10)
    try:
        if armed:
            conn.execute(
                f"CREATE TRIGGER test_trap BEFORE INSERT ON units "
                f"BEGIN SELECT RAISE(ABORT, '{TRAP}'); END"
            )
        else:
            conn.execute("DROP TRIGGER test_trap")
        conn.commit()
    finally:
        conn.close()


async def test_a_failed_core_task_stops_the_daemon_with_exit_1_and_the_next_start_recovers(
    tmp_path: Path,
) -> None:
    async with line_rig(
        tmp_path,
        packs=PACKS,
        pool=PACKS + 50,
        daemon=False,
        plc_watchdog_ms=400,
        packs_per_minute=600,
        upstream=True,
    ) as rig:
        assert rig.central is not None
        config = tmp_path / "line.toml"
        config.write_text(
            config_text(tmp_path, rig.plc.modbus_port, rig.printer.port, rig.camera.port)
            + epcis_toml(rig.central.epcis_url)
        )
        with (tmp_path / "daemon.log").open("wb") as log:
            proc = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "linectl.cli", "run", "--config",
                str(config), "--batch", BATCH, "--start", "--log-level", "WARNING",
                cwd=REPO, stdout=asyncio.subprocess.PIPE, stderr=log,
            )  # fmt: skip
        try:
            assert proc.stdout is not None
            async with asyncio.timeout(30):
                await proc.stdout.readline()
            await rig.wait(lambda: len(rig.plc.events) >= 20)
            await asyncio.to_thread(_trap, rig.ledger.path, armed=True)
            async with asyncio.timeout(60):
                code = await proc.wait()
        finally:
            if proc.returncode is None:
                proc.kill()
                with contextlib.suppress(ProcessLookupError):
                    await proc.wait()
        text = (tmp_path / "daemon.log").read_text()
        assert code == 1, text[-3000:]
        assert "a core task failed, first cause: linectl commit" in text, text[-3000:]
        assert TRAP in text
        assert "alarm task-failed: " in text  # raised, logged, then the daemon went down
        assert rig.plc.state is PackMLState.STOPPED  # by the daemon, on its way down

        await asyncio.to_thread(_trap, rig.ledger.path, armed=False)  # the trigger is removed
        devices = open_devices(rig.config)
        await connect_all(devices)
        runtime = LineRuntime(rig.config, rig.ledger, devices)
        rig.runtime, rig.devices = runtime, devices
        try:
            await runtime.start()
            assert SerialState.ENCODED not in set(rig.serial_states().values())
            await runtime.command(  # the daemon stopped the line as it went down
                Command.START, user="bob", reason="after the restart", batch=BATCH
            )
            await rig.wait_state(PackMLState.COMPLETE)
            await runtime.line_end_done()
            counts = check_ground_truth(rig)
            assert counts["packs"] == PACKS
        finally:
            await runtime.shutdown()
        rec = await asyncio.to_thread(rig.ledger.reconcile, BATCH)
        assert rec.balanced, rec
        await rig.check_invariants()
