"""The batch switch, the outcomes and the hold causes against a real ledger and fake devices."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from drivers.interfaces import Verdict
from linectl.config import Thresholds
from linectl.ledger import SerialState, UnitResult, WorkOrderStatus
from linectl.line.alarms import Alarm
from linectl.line.batch import BatchSwitch
from linectl.line.control import CommandRefused
from linectl.line.events import Committed
from linectl.line.feeder import Feeder
from linectl.line.health import HoldCauses
from linectl.line.outcomes import Outcomes
from linectl.line.packs import PackRecord, unit_verdict
from linectl.line.reasons import RejectReason
from tests.aggregation.conftest import LINE, Line, make_batch, make_line
from tests.line.fakes import FakePlc, FakePrinter, Seams, drain


def outcomes_of(seams: Seams, line: Line, durable: list[UnitResult] | None = None) -> Outcomes:
    return Outcomes(
        line.ledger, seams.tally, seams.events, seams.alarms, seams.mirror, seams.supervisor,
        on_durable=durable.extend if durable is not None else None, max_delay=0.01,
    )  # fmt: skip


def switch(seams: Seams, line: Line, plc: FakePlc) -> tuple[BatchSwitch, Feeder, Outcomes]:
    feeder = Feeder(
        FakePrinter(), line.ledger, seams.tracker, seams.packs, depth=3, chunk=4,
        on_taken=lambda taken, exhausted: None,
    )  # fmt: skip
    outcomes = outcomes_of(seams, line)
    batches = BatchSwitch(
        line.ledger, LINE, Thresholds(), plc, seams.mirror, seams.tally, seams.packs,  # type: ignore[arg-type]
        seams.tracker, feeder, outcomes, None, verified=lambda serial: False,
    )  # fmt: skip
    return batches, feeder, outcomes


@pytest.fixture
def line(tmp_path: Path) -> Iterator[Line]:
    made = make_line(tmp_path / "ledger.db")
    yield made
    made.ledger.close()


async def test_activating_a_batch_loads_what_the_ledger_holds_and_asks_for_a_resync(
    line: Line,
) -> None:
    seams = Seams()
    batches, feeder, outcomes = switch(seams, line, FakePlc())
    seams.tracker.sync(1, 0)
    order = await batches.activate("B1", user="alice")
    try:
        assert order.status is WorkOrderStatus.STARTED and seams.mirror.batch == order
        assert seams.mirror.verifier is not None and feeder.batch == "B1"
        assert seams.tally.pool_available == 200 and seams.tally.counters["commissioned"] == 0
        assert seams.tracker.needs_resync and outcomes.committer is not None
    finally:
        await seams.supervisor.cancel()


async def test_a_second_batch_is_refused_while_one_is_active(line: Line) -> None:
    seams = Seams()
    make_batch(line.ledger, "B2", 10)
    batches, _, _ = switch(seams, line, FakePlc())
    await batches.activate("B1", user="alice")
    try:
        with pytest.raises(CommandRefused, match="batch B1 is active"):
            await batches.activate("B2", user="alice")
        batches.deactivate()
        assert seams.mirror.batch is None and seams.mirror.verifier is None
        assert (await batches.activate("B2", user="alice")).batch == "B2"
    finally:
        await seams.supervisor.cancel()


async def test_finishing_in_flight_revokes_good_verdicts_then_scraps_with_the_reason(
    line: Line,
) -> None:
    seams, plc = Seams(), FakePlc()
    batches, _, _ = switch(seams, line, plc)
    await batches.activate("B1", user="alice")
    try:
        good, bad = line.ledger.take_for_encoding("B1", 2)
        seams.packs.add(PackRecord(seq=7, serial=good, data="", verdict=Verdict.GOOD))
        seams.packs.add(PackRecord(seq=8, serial=bad, data="", verdict=Verdict.REJECT))
        await batches.finish_in_flight(RejectReason.LINE_STOPPED)
        code = RejectReason.LINE_STOPPED.plc_code
        assert plc.verdicts == [(7, Verdict.REJECT, code)]  # only the GOOD one is revoked
        assert len(seams.packs) == 0
        assert line.ledger.reject_counts("B1") == {"line-stopped": 2}
        assert seams.tally.reject_reasons == {"line-stopped": 2}
    finally:
        await seams.supervisor.cancel()


async def test_outcomes_are_counted_published_and_handed_on_only_once_durable(
    line: Line,
) -> None:
    seams, durable = Seams(), list[UnitResult]()
    outcomes = outcomes_of(seams, line, durable)
    sub = seams.events.subscribe()
    outcomes.add(UnitResult("never-seen", 1, unit_verdict(True), grade="A"))  # no batch yet
    await outcomes.use(line.factory)
    try:
        good, bad = line.ledger.take_for_encoding("B1", 2)
        outcomes.add(UnitResult(good, 1, unit_verdict(True), grade="A"))
        outcomes.add(UnitResult(bad, 2, unit_verdict(False), grade="F", reason="low-grade"))
        assert seams.tally.counters["commissioned"] == 0 and durable == []
        await outcomes.flush()
        assert seams.tally.counters["commissioned"] == 1 and seams.tally.counters["scrapped"] == 1
        assert seams.tally.reject_reasons == {"low-grade": 1}
        assert [u.serial for u in durable] == [good, bad]
        assert Committed(1, 1) in drain(sub)
        counts = line.ledger.state_counts("B1")
        assert counts[SerialState.COMMISSIONED] == 1 and counts[SerialState.LABEL_SCRAPPED] == 1
    finally:
        await seams.supervisor.cancel()


async def test_a_refused_ledger_write_raises_the_holding_ledger_alarm(line: Line) -> None:
    seams = Seams()
    outcomes = outcomes_of(seams, line)
    await outcomes.use(line.factory)
    try:
        outcomes.add(UnitResult("NOT-A-SERIAL", 1, unit_verdict(True), grade="A"))
        await outcomes.flush()
        (alarm,) = seams.alarms.holding
        assert alarm.code == "ledger" and "NOT-A-SERIAL" in alarm.message
    finally:
        await seams.supervisor.cancel()


def test_a_hold_cause_is_gone_only_when_its_condition_is_over() -> None:
    seams = Seams()
    printer_ready = [False]
    causes = HoldCauses(seams.health, lambda: printer_ready[0])
    seams.health.lost("camera", ConnectionError("refused"))
    lost = Alarm("device-lost:camera", "camera lost", "", holds=True)
    assert not causes.gone(lost)
    seams.health.back("camera")
    assert causes.gone(lost)
    fault = Alarm("printer-fault", "head open", "", holds=True)
    assert not causes.gone(fault)
    printer_ready[0] = True
    assert causes.gone(fault)
    assert not causes.gone(Alarm("task-failed", "plc failed", "", holds=True))
    assert causes.gone(Alarm("consecutive-rejects", "5 rejects", "", holds=True))
