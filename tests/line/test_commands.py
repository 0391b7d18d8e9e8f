"""The commands stage against a fake PLC, batch switch and outcomes: checks before each command."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest

from drivers.interfaces import DeviceError
from linectl.line.alarms import Alarm
from linectl.line.commands import Commands
from linectl.line.control import Command, CommandRefused
from linectl.line.reasons import RejectReason
from standards.packml import PackMLCommand, PackMLState
from tests.line.fakes import FakePlc, Seams
from tests.line.test_plc_watch import RecordingAudit

S = PackMLState


class FakeSteps:
    """The batch switch, the outcomes and the PLC watch's line end, recorded."""

    def __init__(self, seams: Seams) -> None:
        self.seams = seams
        self.calls: list[str] = []
        self.gone: set[str] = set()

    async def activate(self, batch: str, *, user: str) -> Any:
        self.calls.append(f"activate {batch}")
        self.seams.mirror.batch = SimpleNamespace(batch=batch)  # type: ignore[assignment]
        return self.seams.mirror.batch

    def deactivate(self) -> None:
        self.calls.append("deactivate")

    async def finish_in_flight(self, reason: RejectReason) -> None:
        self.calls.append(f"finish {reason.value}")

    async def line_end_done(self) -> None:
        self.calls.append("line end done")

    async def scrap(self, serials: list[str], reason: RejectReason) -> None:
        self.calls.append(f"scrap {len(serials)}")

    def condition_gone(self, alarm: Alarm) -> bool:
        return alarm.code in self.gone

    def status(self) -> dict[str, Any]:
        return {"state": self.seams.mirror.state_name()}


class FakeFeeder:
    def __init__(self, seams: Seams, jobs: int) -> None:
        self.seams, self.jobs = seams, jobs
        self.unavailable = False  # the ledger takes writes

    async def resync(self, next_seq: int) -> Any:
        self.seams.tracker.sync(next_seq, 0)
        return SimpleNamespace(cancelled=[])

    async def top_up(self) -> bool:
        for _ in range(self.jobs - self.seams.tracker.queued):
            self.seams.tracker.loaded += 1
        return self.jobs > 0


def commands(
    seams: Seams, plc: FakePlc, *, jobs: int = 4
) -> tuple[Commands, FakeSteps, RecordingAudit]:
    steps, audit = FakeSteps(seams), RecordingAudit()
    seams.mirror.phase = "running"
    plc.mirror = seams.mirror
    stage = Commands(
        plc, None, seams.mirror, seams.alarms, seams.health, seams.tracker,  # type: ignore[arg-type]
        FakeFeeder(seams, jobs), audit, steps, steps, None,  # type: ignore[arg-type]
        line_end=steps.line_end_done, cause_gone=steps.condition_gone, status=steps.status,
        timeout_s=1.0,
    )  # fmt: skip
    return stage, steps, audit


async def test_a_command_needs_the_user_who_gives_it() -> None:
    seams, plc = Seams(), FakePlc()
    stage, _, _ = commands(seams, plc)
    with pytest.raises(CommandRefused, match="user"):
        await stage.run(Command.HOLD, user=" ")


async def test_commands_are_refused_while_linectl_is_not_running() -> None:
    seams, plc = Seams(), FakePlc()
    stage, _, _ = commands(seams, plc)
    seams.mirror.phase = "recovering"
    with pytest.raises(CommandRefused, match="recovering"):
        await stage.run(Command.STOP, user="alice")


async def test_commands_are_refused_naming_the_cause_while_the_plc_is_unreachable() -> None:
    # the PLC may have held the line meanwhile: the EXECUTE last seen is no ground to refuse on
    seams, plc = Seams(), FakePlc()
    stage, _, audit = commands(seams, plc)
    seams.mirror.plc_state = S.EXECUTE
    seams.health.lost("plc", DeviceError("plc: PLC signal map is version 2, linectl needs 1"))
    for command in (Command.UNHOLD, Command.HOLD):
        with pytest.raises(CommandRefused) as refused:
            await stage.run(command, user="alice")
        assert "PLC is unreachable, the line's state unknown" in str(refused.value)
        assert "signal map is version 2" in str(refused.value)
    assert plc.commands == [] and audit.rows == []


async def test_hold_is_passed_to_the_plc_and_audited_with_user_and_reason() -> None:
    seams, plc = Seams(), FakePlc()
    stage, _, audit = commands(seams, plc)
    seams.mirror.plc_state = S.EXECUTE
    plc.moves_to = {int(PackMLCommand.HOLD): S.HOLDING}
    status = await stage.run(Command.HOLD, user="alice", reason="jam")
    assert plc.commands == [int(PackMLCommand.HOLD)] and status == {"state": "HOLDING"}
    command, user, reason, before, _ = audit.rows[-1]
    assert (command, user, reason) == ("line.command", "alice", "jam")
    assert before == {"command": "hold", "state": "EXECUTE", "batch": None}


async def test_start_without_a_batch_is_refused() -> None:
    seams, plc = Seams(), FakePlc()
    stage, _, _ = commands(seams, plc)
    seams.mirror.plc_state = S.IDLE
    with pytest.raises(CommandRefused, match="no batch"):
        await stage.run(Command.START, user="alice")
    assert plc.commands == []


async def test_start_fills_the_print_queue_before_the_line_moves() -> None:
    seams, plc = Seams(), FakePlc()
    stage, steps, _ = commands(seams, plc, jobs=4)
    seams.mirror.plc_state = S.IDLE
    plc.moves_to = {int(PackMLCommand.START): S.STARTING}
    status = await stage.run(Command.START, user="alice", batch="B1")
    assert steps.calls == ["activate B1", "scrap 0"]  # resynchronised: nothing was queued
    assert plc.commands == [int(PackMLCommand.START)]
    assert status["result"] == {"batch": "B1", "queued_jobs": 4}
    assert not seams.tracker.needs_resync


async def test_start_with_an_empty_pool_is_refused_as_starved() -> None:
    seams, plc = Seams(), FakePlc()
    stage, _, _ = commands(seams, plc, jobs=0)
    seams.mirror.plc_state = S.IDLE
    with pytest.raises(CommandRefused, match="no serials"):
        await stage.run(Command.START, user="alice", batch="B1")
    assert seams.alarms.active("starved") and plc.commands == []


async def test_unhold_is_refused_while_a_device_is_lost() -> None:
    seams, plc = Seams(), FakePlc()
    stage, _, _ = commands(seams, plc)
    seams.mirror.plc_state = S.HELD
    seams.health.lost("printer", ConnectionError("cable"))
    with pytest.raises(CommandRefused, match="devices not answering: printer"):
        await stage.run(Command.UNHOLD, user="alice")


async def test_unhold_acknowledges_only_the_alarms_whose_cause_is_gone() -> None:
    seams, plc = Seams(), FakePlc()
    stage, steps, _ = commands(seams, plc)
    seams.mirror.plc_state = S.HELD
    seams.alarms.raise_("consecutive-rejects", "5 in a row", holds=True)
    seams.alarms.raise_("task-failed", "bug", holds=True)
    steps.gone = {"consecutive-rejects"}
    with pytest.raises(CommandRefused, match="task-failed"):
        await stage.run(Command.UNHOLD, user="alice")
    assert not seams.alarms.active("consecutive-rejects")


async def test_close_batch_stops_finishes_in_flight_and_closes_the_work_order() -> None:
    seams, plc = Seams(), FakePlc()
    stage, steps, _ = commands(seams, plc)
    seams.mirror.plc_state = S.STOPPED
    seams.mirror.batch = SimpleNamespace(batch="B1")  # type: ignore[assignment]

    class Ledger:
        def close_work_order(self, batch: str, *, actor: str, reason: str) -> None:
            steps.calls.append(f"close {batch}")

        def reconcile(self, batch: str) -> Any:
            return SimpleNamespace(to_json=lambda: '{"balanced": true}')

    stage.ledger = Ledger()  # type: ignore[assignment]
    status = await stage.run(Command.CLOSE_BATCH, user="alice")
    assert steps.calls == ["line end done", "finish line-stopped", "close B1", "deactivate"]
    assert status["result"] == {"batch": "B1", "reconciliation": {"balanced": True}}
