"""An observer that never reads while a batch runs: the pack path does not wait for it.

The daemon publishes every verdict, alarm, state change and counter to its event stream; an
observer subscribed with a small queue and never reading must cost the line nothing (every
verdict written within its deadline, no pack rejected as late, the whole batch through the gate)
and must learn, on its first read, that it dropped events.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import aiohttp
import pytest

from linectl.config import ControlSection, IdentitySection
from linectl.identity import Identity
from linectl.line.control import Command
from linectl.line.events import Missed, StateChanged
from linectl.service.api import start_control_api
from simulators.line import FaultPlan
from standards.packml import PackMLState
from tests.e2e.ground_truth import check_ground_truth
from tests.e2e.rig import line_rig
from tests.people import People
from tests.service.test_event_feed import SseReader

pytestmark = pytest.mark.e2e

PACKS = 240


async def test_an_observer_that_never_reads_delays_no_verdict_and_learns_it_missed_events(
    tmp_path: Path,
) -> None:
    async with (
        line_rig(tmp_path, packs=PACKS, pool=300, faults=FaultPlan(seed=5)) as rig,
        aiohttp.ClientSession() as http,
    ):
        people = People(rig.ledger.path)
        await asyncio.to_thread(people.add, "observer", "machine")
        token = await asyncio.to_thread(people.token, "observer")
        api = await start_control_api(
            rig.rt,
            ControlSection().model_copy(update={"port": 0}),
            identity=Identity(rig.ledger, IdentitySection()),
        )
        feed = await http.get(f"{api.url}/v1/events", headers={"Authorization": f"Bearer {token}"})
        stalled = rig.rt.events.subscribe(maxsize=8)
        await rig.rt.command(Command.START, user="alice", reason="observer test")
        await rig.wait_state(PackMLState.COMPLETE)
        await rig.rt.line_end_done()
        await rig.wait(lambda: rig.rt.status()["counters"]["commissioned"] == PACKS)

        status = rig.rt.status()
        deadline_ms = rig.rt.thresholds.verdict_deadline_ms
        assert status["counters"]["packs_gated"] == PACKS
        assert status["counters"]["verdicts_good"] == PACKS
        assert status["counters"]["verdicts_late"] == 0
        assert status["reject_reasons"].get("late", 0) == 0
        assert all(reason != "late" for _, _, reason in rig.units().values())
        latency = status["verdict_latency_ms"]
        assert latency["n"] >= PACKS and latency["max"] <= deadline_ms
        counts = check_ground_truth(rig)
        assert counts["good"] == PACKS and counts["reject"] == 0

        first = await stalled.get()
        assert isinstance(first, Missed) and first.count >= PACKS - 8
        # what it still holds is the oldest it had room for: the run from its start
        held = [stalled.get_nowait() for _ in range(8)]
        assert any(isinstance(event, StateChanged) for event in held)
        assert stalled.snapshot()["state"]["name"] == "COMPLETE"
        stalled.close()

        # the control API's event feed, not read during the run, has every verdict (or says
        # how many it missed), in the order they were written
        sse = SseReader(feed)
        assert (await sse.next())[0] == "snapshot"
        seqs: list[int] = []
        missed = 0
        while len(seqs) + missed < PACKS:
            name, data = await sse.next()
            if name == "verdict-written":
                assert data["verdict"] == "GOOD"
                seqs.append(data["seq"])
            missed += data["count"] if name == "missed" else 0
        assert seqs == sorted(seqs)
        feed.close()
        await api.close()
        await rig.check_invariants()  # no upstream here: the verdict timing is what is measured
