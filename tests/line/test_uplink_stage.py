"""The uplink stage against the line's mirror and tallies: when it wants serials, its status."""

from __future__ import annotations

import asyncio
from pathlib import Path
from types import SimpleNamespace

from linectl.config import UpstreamSection
from linectl.line.uplink import Uplink
from tests.aggregation.conftest import make_line
from tests.line.fakes import Seams


def uplink(tmp_path: Path, seams: Seams) -> Uplink:
    line = make_line(tmp_path / "ledger.db")
    return Uplink(
        UpstreamSection(), line.ledger, seams.mirror, seams.tally, seams.alarms, seams.supervisor,
        low_water=100, request_size=500, pool_level=lambda n: None, pool_changed=lambda: None,
    )  # fmt: skip


async def test_serials_are_wanted_only_while_running_a_batch_below_low_water(
    tmp_path: Path,
) -> None:
    seams = Seams()
    link = uplink(tmp_path, seams)
    seams.tally.pool_available = 20
    assert await link.wait_for_serials(0.0) is True  # no batch: nothing is wanted
    seams.mirror.phase = "running"
    seams.mirror.batch = SimpleNamespace(batch="B1")  # type: ignore[assignment]
    assert await link.wait_for_serials(0.01) is False
    seams.tally.pool_available = 100
    assert await link.wait_for_serials(0.0) is True


async def test_without_a_pool_manager_it_waits_for_no_refill_that_cannot_come(
    tmp_path: Path,
) -> None:
    """``linectl run --start`` with only ``[upstream.epcis]`` and a pool below low water waited
    the whole bound (30 s) before Start, for serials nothing would request."""
    seams = Seams()
    link = uplink(tmp_path, seams)
    seams.mirror.phase = "running"
    seams.mirror.batch = SimpleNamespace(batch="B1")  # type: ignore[assignment]
    seams.tally.pool_available = 20
    async with asyncio.timeout(5.0):  # a guard: before the fix this waited the full 600 s
        assert await link.wait_for_serials(600.0) is False


async def test_without_links_the_status_shows_the_outbox_backlog_the_line_counted(
    tmp_path: Path,
) -> None:
    seams = Seams()
    link = uplink(tmp_path, seams)
    seams.tally.outbox_pending = 7
    status = link.status()
    assert status["backlog"] == 7 and status["epcis"] is None and status["provisioning"] is None
    await link.close()
    await link.close()  # safe twice
