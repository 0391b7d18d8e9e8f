"""DW2 + DW4: 20,000 real events through the sync while the repository fails in every way it can.

The faults are switched by the outbox itself as delivery progresses (no sleeps, no timing): the
repository goes down and comes back, answers 500s, lowers its capture limits below what it
advertised (413 by events and by bytes), and fails capture jobs part-way after storing a few
events. Afterwards every event is stored exactly once, in queue order, the outbox is empty, every
document received was valid and every eventID is the event's hash.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Sequence
from pathlib import Path

from linectl.upstream.epcis_sync import EpcisSync
from simulators.central import CentralSimulator
from tests.simulators.central.harness import central_config
from tests.upstream.epcis_helpers import (
    check_event_ids,
    check_received_documents,
    commissioning_events,
    quick_settings,
)
from tests.upstream.memory_outbox import MemoryOutbox

BATCHES = ("LOT-A1", "LOT-B2", "LOT-C3", "LOT-D4")
PER_BATCH = 5_000


class ScriptedOutbox(MemoryOutbox):
    """Switches the repository's faults at given delivery counts (and after failures)."""

    def __init__(self, sim: CentralSimulator) -> None:
        super().__init__()
        self.sim = sim
        self.step = 0
        self.failures_at_step = 0
        self.down_seen = 0

    async def mark_delivered(self, ids: Sequence[int]) -> None:
        await super().mark_delivered(ids)
        await self._advance()

    async def record_failure(self, ids: Sequence[int], error: str) -> None:
        await super().record_failure(ids, error)
        if self.sim.faults.epcis_down:
            self.down_seen += 1
            if self.down_seen >= 3:  # three refused attempts: the repository is back
                await self.sim.set_faults(epcis_down=False)
        await self._advance()

    async def _advance(self) -> None:
        done = len(self.delivered)
        failures = len(self.failures) - self.failures_at_step
        script = [
            (2_000, {"epcis_down": True}),
            (5_000, {"error_rate": 0.3}),
            (6_500, {"error_rate": 0.0}),
            (8_000, {"capture_limit": 120}),  # below the 1,000 advertised at the start
            (11_000, {"file_size_limit": 40_000}),
            (14_000, {"fail_next_jobs": 2, "job_failure_keep": 37}),
            (17_000, {"error_rate": 0.2, "fail_next_jobs": 1, "job_failure_keep": 5}),
        ]
        if self.step < len(script) and done >= script[self.step][0]:
            await self.sim.set_faults(**script[self.step][1])
            self.step += 1
            self.failures_at_step = len(self.failures)
        elif self.step == len(script) and failures > 20:
            await self.sim.set_faults(error_rate=0.0)  # enough: let the tail through


async def test_twenty_thousand_events_arrive_once_in_order_through_every_fault(
    tmp_path: Path, standards: Path
) -> None:
    started = time.perf_counter()
    config = central_config(
        tmp_path, standards, capture_limit=1_000, file_size_limit=2_000_000, fault_seed=20
    )
    async with CentralSimulator(config, serve_opcua=False, record_documents=True) as sim:
        outbox = ScriptedOutbox(sim)
        serial = 100_000
        for batch in BATCHES:
            for event in commissioning_events(PER_BATCH, batch=batch, first_serial=serial):
                outbox.add(event, batch)
            serial += PER_BATCH
        built = time.perf_counter()
        sync = EpcisSync(outbox, quick_settings(sim.epcis_url), rng=random.Random(4))
        try:
            async with asyncio.timeout(120):
                delivered = await sync.drain()
                await sim.epcis.wait_idle()  # type: ignore[union-attr]
            status = await sync.status()
        finally:
            await sync.close()
        drained = time.perf_counter()
        assert sim.store is not None and sim.epcis is not None
        stored = sim.store.events()
        counters = sim.epcis.counters
        received = list(sim.epcis.received)

    # every fault really happened
    assert outbox.step == 7 and outbox.down_seen >= 3
    assert any("Connect" in error for _, error in outbox.failures)
    assert counters.injected_errors > 0
    assert counters.too_large >= 2  # by events, then by bytes
    assert counters.failed_jobs >= 3
    assert counters.invalid == 0

    # exactly once, in queue order, nothing left behind
    total = len(BATCHES) * PER_BATCH
    assert delivered == total
    assert [s.event_id for s in stored] == [item.event_id for item in outbox.items]
    for batch in BATCHES:
        queued = [item.event_id for item in outbox.items if item.batch == batch]
        captured = [s.event_id for s in stored if s.event["ilmd"]["cbvmda:lotNumber"] == batch]
        assert captured == queued
    assert outbox.delivered == [item.id for item in outbox.items]
    assert status.backlog == 0 and status.oldest_undelivered_age_s is None

    # DW4: every document received is valid, every eventID is the event hash
    assert check_received_documents(received, standards, sample_every=3) == counters.accepted
    check_event_ids(stored)
    sent_ids = {e for doc in received for e in _event_ids(doc.body)}
    assert sent_ids == {s.event_id for s in stored}
    checked = time.perf_counter()
    print(
        f"\nDW2: build {built - started:.1f} s, sync {drained - built:.1f} s, "
        f"checks {checked - drained:.1f} s; {counters.accepted} documents accepted, "
        f"{counters.too_large} x 413, {counters.injected_errors} x 500, "
        f"{counters.failed_jobs} failed jobs, {len(outbox.failures)} failed attempts"
    )


def _event_ids(body: bytes) -> list[str]:
    import json

    return [e["eventID"] for e in json.loads(body)["epcisBody"]["eventList"]]
