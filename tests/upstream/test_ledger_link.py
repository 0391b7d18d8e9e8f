"""The real ledger behind the upstream links: serials provisioned into a batch, events delivered."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from pathlib import Path

from linectl.config import load_config
from linectl.ledger import Ledger, SerialState, UnitResult, Verdict
from linectl.lifecycle import EventFactory, record_verdicts
from linectl.upstream.epcis_sync import EpcisSync
from linectl.upstream.ledger_link import LedgerOutbox, LedgerSerialSink
from linectl.upstream.pool_client import PoolManagerClient
from linectl.upstream.provisioning import SerialProvisioner
from simulators.central import CentralSimulator
from tests.simulators.central.harness import GTIN_ITEMS, central_config
from tests.upstream.epcis_helpers import quick_settings

REPO = Path(__file__).resolve().parents[2]


async def test_serials_from_the_pool_manager_are_printed_and_their_events_delivered(
    tmp_path: Path, standards: Path
) -> None:
    sim = CentralSimulator(central_config(tmp_path, standards), record_documents=True)
    await sim.start()
    ledger = Ledger(tmp_path / "line.db")
    try:
        ledger.create_work_order(
            batch="B1",
            gtin=GTIN_ITEMS,
            lot="L1",
            expiry="281130",
            quantity=300,
            target_market="DE",
            actor="anna",
        )
        ledger.start_work_order("B1", actor="anna")
        client = PoolManagerClient(sim.opcua_url)
        provisioner = SerialProvisioner(
            client, LedgerSerialSink(ledger), batch="B1", gtin=GTIN_ITEMS, lot="L1", market="DE"
        )
        async with asyncio.timeout(60):
            got = await provisioner.refill(300)
        await client.close()
        assert got == 300
        assert ledger.state_counts("B1")[SerialState.ALLOCATED] == 300

        line = load_config(REPO / "config" / "demo-line.toml").line
        factory = EventFactory(line, ledger.get_work_order("B1"))
        serials = ledger.take_for_encoding("B1", 250)
        for start in range(0, 250, 50):  # five commits, five commissioning events
            units = [
                UnitResult(s, seq=start + i, verdict=Verdict.GOOD, grade="A")
                for i, s in enumerate(serials[start : start + 50])
            ]
            record_verdicts(
                ledger, factory, units, clock=lambda: datetime(2026, 11, 21, tzinfo=UTC)
            )
        queued = [e.event_id for e in ledger.outbox.peek(100)]
        assert len(queued) == 5

        outbox = LedgerOutbox(ledger)
        assert (await outbox.backlog()).count == 5
        sync = EpcisSync(outbox, quick_settings(sim.epcis_url))
        async with asyncio.timeout(60):
            assert await sync.drain() == 5
        await sync.close()

        assert ledger.outbox.counts()["pending"] == 0
        assert (await outbox.backlog()).oldest_created_at is None
        assert sim.epcis is not None
        stored = [e.event_id for e in sim.epcis.store.events()]
        assert stored == queued  # in order, each once
        assert ledger.verify_audit().ok
    finally:
        ledger.close()
        await sim.close()
