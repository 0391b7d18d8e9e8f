"""The commits stage against a real ledger in a temp file: grouped, durable, reported after."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from pathlib import Path

from linectl.ledger import SerialState, UnitResult
from linectl.line.commits import Committer
from linectl.line.packs import unit_verdict
from tests.aggregation.conftest import make_line


async def test_outcomes_are_reported_only_after_their_group_is_durable(tmp_path: Path) -> None:
    line = make_line(tmp_path / "ledger.db")
    serials = line.ledger.take_for_encoding(line.batch, 3)
    heard: list[Sequence[UnitResult]] = []
    durable = asyncio.Event()

    def committed(units: Sequence[UnitResult]) -> None:
        heard.append(units)
        durable.set()

    committer = Committer(
        line.ledger, line.factory, on_committed=committed, on_failed=print, max_units=3
    )
    for seq, (serial, good) in enumerate(zip(serials, (True, False, True), strict=True)):
        committer.add(UnitResult(serial, seq, unit_verdict(good), grade="A",
                                 reason=None if good else "no-read"))  # fmt: skip
    assert heard == []  # nothing reported before the transaction committed
    task = asyncio.create_task(committer.run())
    await durable.wait()
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    assert [u.serial for u in heard[0]] == serials and committer.committed == 3
    counts = line.ledger.state_counts(line.batch)
    assert counts[SerialState.COMMISSIONED] == 2 and counts[SerialState.LABEL_SCRAPPED] == 1


async def test_serials_without_a_pack_are_scrapped_with_their_reason(tmp_path: Path) -> None:
    line = make_line(tmp_path / "ledger.db")
    serials = line.ledger.take_for_encoding(line.batch, 2)
    committer = Committer(line.ledger, line.factory, on_committed=print, on_failed=print)
    assert await committer.scrap(serials, "cancelled") == 2
    assert line.ledger.reject_counts(line.batch) == {"cancelled": 2}


async def test_scrapping_a_serial_already_rejected_scraps_the_others(tmp_path: Path) -> None:
    # after a printer outage the cancelled queue may hold a serial whose pack was rejected
    line = make_line(tmp_path / "ledger.db")
    serials = line.ledger.take_for_encoding(line.batch, 3)
    failed: list[str] = []
    committer = Committer(line.ledger, line.factory, on_committed=print, on_failed=failed.append)
    committer.add(UnitResult(serials[0], 1, unit_verdict(False), grade="F", reason="no-read"))
    await committer.flush()
    assert await committer.scrap(serials, "cancelled") == 2
    assert failed == []
    assert line.ledger.reject_counts(line.batch) == {"no-read": 1, "cancelled": 2}
    assert line.ledger.state_counts(line.batch).get(SerialState.ENCODED, 0) == 0


async def test_a_unit_the_ledger_refuses_is_reported_and_the_rest_committed(tmp_path: Path) -> None:
    line = make_line(tmp_path / "ledger.db")
    serials = line.ledger.take_for_encoding(line.batch, 2)
    failed: list[str] = []
    heard: list[Sequence[UnitResult]] = []
    committer = Committer(line.ledger, line.factory, on_committed=heard.append,
                          on_failed=failed.append)  # fmt: skip
    committer.add(UnitResult(serials[0], 1, unit_verdict(True), grade="A"))
    committer.add(UnitResult("NOT-A-SERIAL", 2, unit_verdict(True), grade="A"))
    committer.add(UnitResult(serials[1], 3, unit_verdict(True), grade="A"))
    await committer.flush()
    assert [u.serial for u in heard[0]] == [serials[0], serials[1]]
    assert len(failed) == 1 and "NOT-A-SERIAL" in failed[0]
