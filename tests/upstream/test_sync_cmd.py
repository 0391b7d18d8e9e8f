"""``linectl sync`` without a daemon: it drains the ledger's outbox and returns unused serials."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from linectl.cli import main
from linectl.config import load_config
from linectl.ledger import Ledger, SerialState, UnitResult, Verdict
from linectl.lifecycle import EventFactory, record_verdicts
from linectl.upstream.batch_serials import provisioner_for
from linectl.upstream.pool_client import PoolManagerClient
from simulators.central import CentralSimulator
from tests.people import People
from tests.simulators.central.harness import GTIN_ITEMS, central_config
from tests.upstream.epcis_helpers import check_event_ids, check_received_documents

COMMITS = 6
PER_COMMIT = 5


def _config(tmp: Path, sim: CentralSimulator) -> Path:
    path = tmp / "line.toml"
    path.write_text(f"""
[line]
id = "sync-line"
read_point = "urn:epc:id:sgln:4012345.00001.1"
biz_location = "urn:epc:id:sgln:4012345.00001.0"
company_prefix_length = 7

[ledger]
path = "{tmp / "ledger.db"}"

[control]
unix_socket = "{tmp / "control.sock"}"

[upstream.provisioning]
endpoint = "{sim.opcua_url}"
timeout_s = 5
backoff_initial_s = 0.05
backoff_max_s = 0.2

[upstream.epcis]
base_url = "{sim.epcis_url}"
capture_limit = 4
backoff_initial_s = 0.05
backoff_max_s = 0.2
""")
    return path


@pytest.fixture
async def sim(tmp_path: Path, standards: Path) -> AsyncIterator[CentralSimulator]:
    config = central_config(tmp_path, standards, max_sn_returnable=6)
    async with CentralSimulator(config, admin=False, record_documents=True) as simulator:
        yield simulator


async def _closed_batch_with_backlog(config_path: Path) -> None:
    """A batch provisioned from the simulator, partly printed (events queued), then closed."""
    config = load_config(config_path)
    assert config.upstream is not None and config.upstream.provisioning is not None
    section = config.upstream.provisioning
    with Ledger(config.ledger.path) as ledger:
        ledger.create_work_order(
            batch="B1",
            gtin=GTIN_ITEMS,
            lot="L1",
            expiry="281130",
            quantity=40,
            target_market="DE",
            actor="anna",
        )
        order = ledger.start_work_order("B1", actor="anna")
        client = PoolManagerClient.from_section(section)
        try:
            async with asyncio.timeout(30):
                await provisioner_for(client, ledger, section, order).refill(40)
        finally:
            await client.close()
        factory = EventFactory(config.line, order)
        printed = ledger.take_for_encoding("B1", COMMITS * PER_COMMIT)
        for n in range(COMMITS):
            chunk = printed[n * PER_COMMIT : (n + 1) * PER_COMMIT]
            units = [UnitResult(s, seq=i, verdict=Verdict.GOOD) for i, s in enumerate(chunk)]
            record_verdicts(ledger, factory, units, clock=lambda: datetime(2026, 3, 2, tzinfo=UTC))
        ledger.close_work_order("B1", actor="anna")


async def test_without_a_daemon_sync_delivers_the_backlog_and_returns_unused_serials(
    tmp_path: Path, sim: CentralSimulator, standards: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert sim.pool is not None and sim.epcis is not None
    config = _config(tmp_path, sim)
    await _closed_batch_with_backlog(config)

    await asyncio.to_thread(log_in_anna, tmp_path / "ledger.db")
    argv = ["sync", "--config", str(config), "--timeout", "30"]
    code = await asyncio.to_thread(main, argv)
    out = capsys.readouterr().out
    assert code == 0, out
    assert "no daemon running" in out
    assert f"sync done: {COMMITS} events delivered, 10 unused serials returned" in out

    with Ledger(tmp_path / "ledger.db") as ledger:
        assert ledger.outbox.counts().get("pending", 0) == 0
        returned = ledger.list_serials("B1", SerialState.UNALLOCATED)
        rec = ledger.reconcile("B1")
    assert rec.balanced and rec.returned == 10 and rec.unused == 0
    assert set(returned) == set(sim.pool.returned("ITEMS"))
    stored = sim.epcis.store.events()
    assert len(stored) == COMMITS
    check_event_ids(stored)
    assert check_received_documents(sim.epcis.received, standards) == 2  # 4 events per document


def log_in_anna(ledger: Path) -> None:
    """Supervisor anna, logged in: sync without a daemon writes the ledger as her."""
    people = People(ledger)
    people.add("anna", "supervisor", "Anna Svensson")
    people.session("anna")


async def test_sync_gives_up_after_its_timeout_while_upstream_stays_down(
    tmp_path: Path, sim: CentralSimulator, capsys: pytest.CaptureFixture[str]
) -> None:
    config = _config(tmp_path, sim)
    await _closed_batch_with_backlog(config)
    await sim.set_faults(epcis_down=True, pool_down=True)
    await asyncio.to_thread(log_in_anna, tmp_path / "ledger.db")
    argv = ["sync", "--config", str(config), "--timeout", "1.5"]
    code = await asyncio.to_thread(main, argv)
    captured = capsys.readouterr()
    assert code == 1
    assert "not drained within 1.5 s" in captured.err
    lines = [line for line in captured.out.splitlines() if "events sent" in line]
    assert lines and all("\r" not in line for line in lines)  # not a terminal: plain lines
    assert f"0/{COMMITS} events sent ({COMMITS} waiting" in lines[-1]
    assert "EPCIS retrying" in lines[-1] and "10 waiting" in lines[-1]
    with Ledger(tmp_path / "ledger.db") as ledger:
        assert ledger.outbox.counts()["pending"] == COMMITS
        assert ledger.reconcile("B1").unused == 10
