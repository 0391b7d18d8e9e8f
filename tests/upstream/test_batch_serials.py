"""A batch's serials against the pool manager: refills into the ledger, returns after close."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from linectl.config import ProvisioningSection
from linectl.ledger import Ledger, SerialState, UnitResult, Verdict, WorkOrder
from linectl.upstream.batch_serials import (
    BatchClosedDuringRefill,
    pending_returns,
    provisioner_for,
    return_batch,
    selection_for,
)
from linectl.upstream.pool_client import PoolManagerClient
from linectl.upstream.pool_errors import PoolRefused
from simulators.central import CentralSimulator
from tests.simulators.central.harness import GTIN_ITEMS, central_config

COLLECTION = "ITEMS"


@pytest.fixture
async def sim(tmp_path: Path, standards: Path) -> AsyncIterator[CentralSimulator]:
    config = central_config(tmp_path, standards, max_sn_returnable=7, page_size=8)
    async with CentralSimulator(config, admin=False) as simulator:
        yield simulator


def _section(sim: CentralSimulator) -> ProvisioningSection:
    return ProvisioningSection(
        endpoint=sim.opcua_url,
        collections={GTIN_ITEMS: COLLECTION},
        market="DE",
        attempts=1,
        timeout_s=5,
    )


def _batch(ledger: Ledger, batch: str = "B1") -> WorkOrder:
    ledger.create_work_order(
        batch=batch,
        gtin=GTIN_ITEMS,
        lot="L1",
        expiry="281130",
        quantity=20,
        target_market="DE",
        actor="anna",
    )
    return ledger.start_work_order(batch, actor="anna")


async def test_unused_serials_go_back_in_chunks_and_become_returned_in_the_ledger(
    sim: CentralSimulator, tmp_path: Path
) -> None:
    assert sim.pool is not None
    section = _section(sim)
    client = PoolManagerClient.from_section(section)
    with Ledger(tmp_path / "line.db") as ledger:
        order = _batch(ledger)
        try:
            async with asyncio.timeout(30):
                assert await provisioner_for(client, ledger, section, order).refill(30) == 30
                printed = ledger.take_for_encoding("B1", 12)
                ledger.record_units(
                    [UnitResult(s, seq=i, verdict=Verdict.GOOD) for i, s in enumerate(printed)],
                    gtin=GTIN_ITEMS,
                )
                ledger.close_work_order("B1", actor="anna")
                (pending,) = pending_returns(ledger)
                assert pending.batch == "B1" and len(pending.serials) == 18
                assert await return_batch(client, ledger, section, pending) == 18
        finally:
            await client.close()
        assert pending_returns(ledger) == []
        returned = ledger.list_serials("B1", SerialState.UNALLOCATED)
        assert set(returned) == set(pending.serials) == set(sim.pool.returned(COLLECTION))
        rec = ledger.reconcile("B1")
        assert rec.balanced and rec.returned == 18 and rec.unused == 0 and rec.commissioned == 12
        calls = [c.method for c in sim.pool_manager.calls] if sim.pool_manager else []
        assert calls.count("SNReturnAllocated") == 3  # 18 serials, at most 7 per call


async def test_a_return_repeated_after_a_crash_before_it_was_recorded_still_counts_once(
    sim: CentralSimulator, tmp_path: Path
) -> None:
    assert sim.pool is not None
    section = _section(sim)
    client = PoolManagerClient.from_section(section)
    with Ledger(tmp_path / "line.db") as ledger:
        order = _batch(ledger)
        try:
            async with asyncio.timeout(30):
                await provisioner_for(client, ledger, section, order).refill(10)
                ledger.close_work_order("B1", actor="anna")
                (pending,) = pending_returns(ledger)
                # the pool manager took the first chunk, then the line crashed before recording it
                selection = selection_for(section, GTIN_ITEMS, "L1")
                await client.return_serials(pending.serials[:7], selection)
                assert await return_batch(client, ledger, section, pending) == 10
        finally:
            await client.close()
        assert sorted(sim.pool.returned(COLLECTION)) == sorted(pending.serials)
        assert ledger.reconcile("B1").returned == 10


async def test_a_page_arriving_after_its_batch_closed_goes_straight_back(
    sim: CentralSimulator, tmp_path: Path
) -> None:
    assert sim.pool is not None
    section = _section(sim)
    client = PoolManagerClient.from_section(section)
    with Ledger(tmp_path / "line.db") as ledger:
        order = _batch(ledger)
        ledger.close_work_order("B1", actor="anna")  # close-batch won the race with the refill
        try:
            async with asyncio.timeout(30):
                with pytest.raises(BatchClosedDuringRefill, match="B1"):
                    await provisioner_for(client, ledger, section, order).refill(20)
        finally:
            await client.close()
        issued = sim.pool.issued(COLLECTION)
        assert issued and sorted(sim.pool.returned(COLLECTION)) == sorted(issued)
        assert ledger.list_serials("B1") == []


async def test_serials_the_pool_manager_never_issued_are_refused_and_stay_unused(
    sim: CentralSimulator, tmp_path: Path
) -> None:
    section = _section(sim)
    client: PoolManagerClient = PoolManagerClient.from_section(section)
    with Ledger(tmp_path / "line.db") as ledger:
        _batch(ledger)
        ledger.import_serials("B1", GTIN_ITEMS, ["FROMFILE1", "FROMFILE2"], "anna")
        ledger.close_work_order("B1", actor="anna")
        (pending,) = pending_returns(ledger)
        try:
            async with asyncio.timeout(30):
                with pytest.raises(PoolRefused, match="InvalidSerialNumberCollection"):
                    await return_batch(client, ledger, section, pending)
        finally:
            await client.close()
        assert ledger.reconcile("B1").unused == 2
