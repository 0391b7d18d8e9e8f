"""Issue 15, defect 4: the ledger's disk fills while the line runs.

Seen before: the line held for ever, unhold refused even after space was freed, and the first
cause ("commit failed") replaced by a later one. Now a write the disk refuses is kept and retried:
the line holds with the first cause in its alarm, unhold is refused while the disk is still full,
and once space is back the held outcomes are written, unhold goes through and the batch ends
balanced with nothing lost. SQLite's ``max_page_count`` makes the daemon's own connection see a
full disk at a chosen moment (SQLITE_FULL, the error ENOSPC gives); a second test puts the ledger
on a real 16 MiB tmpfs filled to the last page (skipped, saying why, where it cannot mount).
Both lines send their events upstream meanwhile; while held, status and log name the ``ledger``
alarm with its documented action, and afterwards the invariants of issue 15 hold.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from linectl.ledger import Ledger, SerialState
from linectl.line.control import Command, CommandRefused
from standards.packml import PackMLState as S
from tests.e2e.ground_truth import check_ground_truth
from tests.e2e.rig import BATCH, line_rig

pytestmark = pytest.mark.e2e


def _disk(ledger: Ledger, *, full: bool) -> None:
    """Let the ledger's connection grow (``full=False``) or not by a single page."""
    with ledger._db.write() as conn:  # the daemon's own connection, under its lock
        pages = int(conn.execute("PRAGMA page_count").fetchone()[0])
        conn.execute(f"PRAGMA max_page_count = {pages if full else 1_000_000_000}")


async def test_a_full_disk_holds_the_line_and_nothing_is_lost_once_space_is_back(
    tmp_path: Path,
) -> None:
    async with line_rig(tmp_path, packs=100, pool=140, packs_per_minute=1200, upstream=True) as rig:
        await rig.rt.command(Command.START, user="alice")
        await rig.wait(lambda: rig.rt.status()["counters"]["packs_gated"] >= 40)
        await asyncio.to_thread(_disk, rig.ledger, full=True)

        await rig.wait(lambda: rig.alarm("ledger"))
        await rig.wait_state(S.HELD)

        def alarm() -> dict[str, Any]:
            return next(a for a in rig.rt.alarms() if a["code"] == "ledger")

        first = alarm()
        rig.assert_told("ledger")
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
        assert counts["packs"] == 100
        states = await asyncio.to_thread(rig.ledger.state_counts, BATCH)
        assert SerialState.ENCODED not in states, states
        rec = await asyncio.to_thread(rig.ledger.reconcile, BATCH)
        assert rec.balanced, rec
        report = await asyncio.to_thread(rig.ledger.verify_audit)
        assert report.ok, str(report)
        await rig.check_invariants()


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A 16 MiB tmpfs for the ledger alone (its WAL grows to 4 MiB before a checkpoint; the
    simulators' logs stay on the big disk)."""
    mount = tmp_path / "disk"
    mount.mkdir()
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=16m,mode=0700", "tmpfs", str(mount)],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    if done.returncode != 0:
        pytest.skip(f"cannot mount a small tmpfs here ({done.stderr.strip()}): needs root")
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


def _fill(folder: Path) -> Path:
    """Write a file until the file system is full (ENOSPC); returns it."""
    filler = folder / "filler"
    with filler.open("wb", buffering=0) as out:
        for size in (65536, 4096):  # the last bytes, one page at a time
            with contextlib.suppress(OSError):
                while True:
                    out.write(b"\0" * size)
    probe = folder / "probe"
    try:
        probe.write_bytes(b"\0" * 4096)
    except OSError as exc:
        assert exc.errno == errno.ENOSPC
    else:
        raise AssertionError("the file system is not full")
    return filler


async def test_on_a_really_full_file_system_start_is_refused_naming_the_ledger_then_it_runs(
    tmp_path: Path, small_disk: Path
) -> None:
    ledger = small_disk / "ledger.db"
    async with line_rig(
        tmp_path, packs=40, pool=80, packs_per_minute=1200, ledger_path=ledger, upstream=True
    ) as rig:
        filler = await asyncio.to_thread(_fill, small_disk)  # ENOSPC from the kernel
        with pytest.raises(CommandRefused, match="ledger refuses writes"):
            await rig.rt.command(Command.START, user="alice")
        await rig.wait(lambda: rig.alarm("ledger"))
        alarm = next(a for a in rig.rt.alarms() if a["code"] == "ledger")
        assert "SQLITE_FULL" in alarm["message"] or "SQLITE_IOERR" in alarm["message"], alarm
        rig.assert_told("ledger")

        filler.unlink()  # space is back
        await rig.wait(lambda: rig.rt.ledger_trouble.healthy)
        await rig.rt.command(Command.START, user="alice", reason="disk cleaned up")
        await rig.wait_state(S.COMPLETE)
        await rig.rt.line_end_done()

        counts = check_ground_truth(rig)
        assert counts["packs"] == 40
        states = await asyncio.to_thread(rig.ledger.state_counts, BATCH)
        assert SerialState.ENCODED not in states, states
        rec = await asyncio.to_thread(rig.ledger.reconcile, BATCH)
        assert rec.balanced, rec
        report = await asyncio.to_thread(rig.ledger.verify_audit)
        assert report.ok, str(report)
        await rig.check_invariants()
