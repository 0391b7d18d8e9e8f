"""The PLC watch stage against a fake PLC: state mirror, gate reports, fail-safe Hold."""

from __future__ import annotations

import asyncio
from typing import Any

from drivers.interfaces import DeviceError, GateEvent, GateOutcome, Verdict
from drivers.plc import signals as sig
from linectl.ledger import UnitResult, verdict_text
from linectl.line.events import DeviceLost, StateChanged
from linectl.line.packs import PackRecord
from linectl.line.plc_side import PlcWatch
from linectl.line.reasons import RejectReason
from standards.packml import PackMLCommand, PackMLState
from tests.line.fakes import FakePlc, Seams, drain, snapshot

S = PackMLState


class RecordingAudit:
    def __init__(self) -> None:
        self.rows: list[tuple[str, str, str, object, object]] = []

    def record(self, command: str, actor: str, reason: str, before: object, after: object) -> None:
        self.rows.append((command, actor, reason, before, after))


class FakeFeeding:
    def __init__(self) -> None:
        self.feed = asyncio.Event()
        self.dry = 0
        self.ended: list[PackMLState] = []

    def queue_ran_dry(self) -> None:
        self.dry += 1

    async def line_ended(self, state: PackMLState) -> None:
        self.ended.append(state)


def watch(seams: Seams, plc: FakePlc) -> tuple[PlcWatch, list[UnitResult], list[PackRecord], Any]:
    outcomes: list[UnitResult] = []
    late: list[PackRecord] = []
    audit = RecordingAudit()
    stage = PlcWatch(
        plc, seams.packs, seams.mirror, seams.tally, seams.alarms, seams.health, seams.tracker,
        FakeFeeding(), audit, seams.events, seams.supervisor,  # type: ignore[arg-type]
        poll_s=0.001, gate_poll_s=0.0, heartbeat_s=0.25,
        on_outcome=outcomes.append, on_late=late.append,
    )  # fmt: skip
    return stage, outcomes, late, audit


def good_pack(seq: int) -> PackRecord:
    return PackRecord(seq=seq, serial=f"S{seq}", data="D", verdict=Verdict.GOOD, written=True)


def test_a_pack_the_gate_passed_with_a_good_verdict_is_commissioned() -> None:
    seams, plc = Seams(), FakePlc()
    stage, outcomes, _, _ = watch(seams, plc)
    seams.packs.add(good_pack(7))
    stage.on_gate_events([GateEvent(7, GateOutcome.PASSED)])
    assert [(u.seq, verdict_text(u.verdict), u.reason) for u in outcomes] == [(7, "good", None)]
    assert len(seams.packs) == 0 and seams.tally.counters["packs_gated"] == 1


def test_a_good_pack_the_gate_rejected_counts_as_a_late_verdict() -> None:
    seams, plc = Seams(), FakePlc()
    stage, outcomes, late, _ = watch(seams, plc)
    seams.packs.add(good_pack(3))
    stage.on_gate_events([GateEvent(3, GateOutcome.REJECTED_CONFIRMED)])
    assert verdict_text(outcomes[0].verdict) == "reject"
    assert outcomes[0].reason == RejectReason.LATE.value
    assert [r.seq for r in late] == [3]


def test_a_pack_that_passed_without_a_job_holds_the_line() -> None:
    seams, plc = Seams(), FakePlc()
    stage, outcomes, _, _ = watch(seams, plc)
    stage.on_gate_events([GateEvent(9, GateOutcome.PASSED)])
    assert outcomes == [] and seams.tally.counters["packs_unserialised"] == 1
    assert [a.code for a in seams.alarms.holding] == ["unverified-pass"]


def test_packs_the_gate_went_past_without_a_report_are_scrapped_with_an_alarm() -> None:
    seams, plc = Seams(), FakePlc()
    stage, outcomes, _, _ = watch(seams, plc)
    for seq in (1, 2, 3):
        seams.packs.add(good_pack(seq))
    stage._outcomes_lost(2)
    assert [(u.seq, u.reason) for u in outcomes] == [
        (1, "reject-unconfirmed"),
        (2, "reject-unconfirmed"),
    ]
    assert seams.alarms.active("gate-outcome-lost") and 3 in seams.packs


def test_a_state_change_is_mirrored_audited_and_published() -> None:
    seams, plc = Seams(), FakePlc()
    stage, _, _, audit = watch(seams, plc)
    sub = seams.events.subscribe()
    stage.on_snapshot(snapshot(S.EXECUTE))
    assert seams.mirror.plc_state is S.EXECUTE
    assert audit.rows[0][:2] == ("line.state", "plc")
    assert drain(sub) == [StateChanged(None, "EXECUTE")]


def test_the_plc_losing_the_heartbeat_raises_a_holding_alarm() -> None:
    seams, plc = Seams(), FakePlc()
    stage, _, _, _ = watch(seams, plc)
    stage.on_snapshot(snapshot(S.HELD, fault=int(sig.Fault.HOST_HEARTBEAT_LOST)))
    assert [a.code for a in seams.alarms.holding] == ["plc-heartbeat-lost"]


async def test_a_holding_alarm_while_producing_sends_hold_and_audits_it() -> None:
    seams, plc = Seams(), FakePlc()
    stage, _, _, audit = watch(seams, plc)
    seams.mirror.plc_state = S.EXECUTE
    seams.alarms.raise_("reject-unconfirmed", "a bad pack may be downstream", holds=True)
    stage.enforce()
    await plc.commanded.wait()
    await seams.supervisor.wait("hold", 1.0)
    assert plc.commands == [int(PackMLCommand.HOLD)]
    assert audit.rows[-1][0] == "line.command" and audit.rows[-1][2] == "reject-unconfirmed"
    stage.enforce()  # at most one Hold per half second
    assert seams.supervisor.tasks("hold") == set()


async def test_a_plc_that_does_not_answer_is_reported_lost() -> None:
    seams, plc = Seams(), FakePlc()
    stage, _, _, _ = watch(seams, plc)
    sub = seams.events.subscribe()
    plc.fail = DeviceError("connection refused")
    task = asyncio.create_task(stage.run())
    await seams.mirror.wait_for(lambda: not seams.health.connected("plc"))
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    events = drain(sub)
    assert DeviceLost("plc", "plc", "connection refused") in events
    assert [a.code for a in seams.alarms.holding] == ["device-lost:plc"]


async def test_a_plc_whose_heartbeat_stands_still_is_lost_until_it_moves_again() -> None:
    # the PLC program stopped while its network side still answers (a PLC in STOP mode)
    seams, plc = Seams(), FakePlc()
    stage, _, _, _ = watch(seams, plc)
    stage.plc_silent_s = 0.05
    sub = seams.events.subscribe()
    plc.heartbeat_frozen = True
    task = asyncio.create_task(stage.run())
    try:
        async with asyncio.timeout(10):
            await seams.mirror.wait_for(lambda: not seams.health.connected("plc"))
    except TimeoutError:
        task.cancel()
        raise
    (lost,) = [e for e in drain(sub) if isinstance(e, DeviceLost)]
    assert lost.role == "plc" and "heartbeat frozen" in lost.error
    assert [a.code for a in seams.alarms.holding] == ["device-lost:plc"]
    plc.heartbeat_frozen = False
    try:
        async with asyncio.timeout(10):
            await seams.mirror.wait_for(lambda: seams.health.connected("plc"))
    finally:
        task.cancel()
    await asyncio.gather(task, return_exceptions=True)


class CountingPlc(FakePlc):
    """Counts snapshot reads; ``beaten`` is set at every heartbeat written."""

    def __init__(self) -> None:
        super().__init__()
        self.reads = 0
        self.beaten = asyncio.Event()

    async def read_snapshot(self) -> Any:
        self.reads += 1
        return await super().read_snapshot()

    async def write_heartbeat(self, value: int) -> None:
        await super().write_heartbeat(value)
        self.beaten.set()


async def test_a_standing_line_is_polled_only_as_often_as_the_heartbeat_needs() -> None:
    seams, plc = Seams(), CountingPlc()
    plc.snap = snapshot(state=S.IDLE)
    stage, _, _, _ = watch(seams, plc)
    stage.idle_poll_s = 3600.0  # standing: the slow poll never comes within the test
    stage.heartbeat_s = 0.02  # ... but the heartbeat keeps its period (the fast poll: 1 ms)
    task = asyncio.create_task(stage.run())
    for _ in range(3):
        plc.beaten.clear()
        await plc.beaten.wait()
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    assert seams.mirror.plc_state is S.IDLE
    assert len(plc.beats) >= 3 and plc.reads <= 2 * len(plc.beats)  # not one per fast period


async def test_a_moving_line_is_polled_at_the_fast_period_between_heartbeats() -> None:
    seams, plc = Seams(), CountingPlc()
    plc.snap = snapshot(state=S.EXECUTE)
    stage, _, _, _ = watch(seams, plc)
    stage.idle_poll_s = stage.heartbeat_s = 3600.0  # only the fast poll can read again
    task = asyncio.create_task(stage.run())
    await seams.mirror.wait_for(lambda: plc.reads >= 5)
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    assert plc.beats == [1]  # the first iteration beat; the next is an hour away


async def test_a_standing_line_with_packs_in_flight_is_polled_at_the_fast_period() -> None:
    seams, plc = Seams(), CountingPlc()
    plc.snap = snapshot(state=S.HELD)
    seams.packs.add(good_pack(12))  # on the conveyor between printer and gate
    stage, _, _, _ = watch(seams, plc)
    stage.idle_poll_s = stage.heartbeat_s = 3600.0
    task = asyncio.create_task(stage.run())
    await seams.mirror.wait_for(lambda: plc.reads >= 5)
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)


async def test_jobs_loaded_on_a_standing_line_end_the_slow_pause_at_once() -> None:
    seams, plc = Seams(), CountingPlc()
    plc.snap = snapshot(state=S.IDLE)
    stage, _, _, _ = watch(seams, plc)
    stage.idle_poll_s = stage.heartbeat_s = 3600.0
    task = asyncio.create_task(stage.run())
    await seams.mirror.wait_for(lambda: plc.reads == 1)
    seams.packs.add(good_pack(1))  # what the feeder does, then it calls wake()
    stage.wake()
    await seams.mirror.wait_for(lambda: plc.reads >= 3)
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)


async def test_a_moving_line_gets_its_heartbeat_on_time_between_slower_polls() -> None:
    seams, plc = Seams(), CountingPlc()
    plc.snap = snapshot(state=S.EXECUTE)
    stage, _, _, _ = watch(seams, plc)
    stage.poll_s = 3600.0  # the next snapshot poll is an hour away...
    stage.heartbeat_s = 0.01  # ... but the watchdog needs a beat every 10 ms
    task = asyncio.create_task(stage.run())
    for _ in range(3):
        plc.beaten.clear()
        await plc.beaten.wait()
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    assert len(plc.beats) >= 3


async def test_the_running_watch_settles_each_pack_from_the_gate_ring_as_it_polls() -> None:
    seams, plc = Seams(), CountingPlc()
    stage, outcomes, _, _ = watch(seams, plc)
    stage.poll_s = stage.gate_poll_s = 0.001
    stage.idle_poll_s = stage.heartbeat_s = 3600.0
    task = asyncio.create_task(stage.run())
    for seq in range(1, 6):  # the gate decides one pack between two polls
        seams.packs.add(good_pack(seq))
        plc.gate.append(GateEvent(seq, GateOutcome.PASSED))
        plc.snap = snapshot(state=S.EXECUTE, gate=seq)
        await seams.mirror.wait_for(lambda seq=seq: len(outcomes) == seq)  # type: ignore[misc]
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    assert [u.seq for u in outcomes] == [1, 2, 3, 4, 5]
