"""The EPCIS sync against the central simulator's capture interface: limits, errors, TLS, status."""

from __future__ import annotations

import asyncio
import json
import random
from collections.abc import AsyncIterator, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from linectl.upstream.epcis_capture import DeliveryError
from linectl.upstream.epcis_sync import EpcisSync, SyncState
from linectl.upstream.outbox import OutboxItem
from simulators.central import CentralSimulator
from tests.simulators.central.harness import central_config
from tests.upstream.epcis_helpers import (
    check_event_ids,
    check_received_documents,
    commissioning_events,
    quick_settings,
)
from tests.upstream.memory_outbox import MemoryOutbox
from tests.upstream.tls_material import make_tls_files


def _filled(count: int, batch: str = "LOT-1", at: datetime | None = None) -> MemoryOutbox:
    outbox = MemoryOutbox()
    for event in commissioning_events(count, batch=batch, first_serial=500_000):
        outbox.add(event, batch, at)
    return outbox


async def _central(tmp_path: Path, standards: Path, **config: Any) -> CentralSimulator:
    sim = CentralSimulator(
        central_config(tmp_path, standards, **config), serve_opcua=False, record_documents=True
    )
    await sim.start()
    return sim


@pytest.fixture
async def central(tmp_path: Path, standards: Path) -> AsyncIterator[CentralSimulator]:
    sim = await _central(tmp_path, standards)
    yield sim
    await sim.close()


def _doc_sizes(sim: CentralSimulator) -> list[tuple[int, int]]:
    assert sim.epcis is not None
    return [
        (len(json.loads(d.body)["epcisBody"]["eventList"]), len(d.body)) for d in sim.epcis.received
    ]


async def _drain(sync: EpcisSync, **kwargs: Any) -> int:
    async with asyncio.timeout(60):
        return await sync.drain(**kwargs)


async def test_documents_respect_the_advertised_capture_limit(
    tmp_path: Path, standards: Path
) -> None:
    sim = await _central(tmp_path, standards, capture_limit=40)
    outbox = _filled(100)
    sync = EpcisSync(outbox, quick_settings(sim.epcis_url))
    try:
        assert await _drain(sync) == 100
        assert [n for n, _ in _doc_sizes(sim)] == [40, 40, 20]
        assert sim.epcis is not None and sim.epcis.counters.too_large == 0
        assert (await sync.status()).capture_limit == 40
    finally:
        await sync.close()
        await sim.close()


async def test_a_413_without_advertised_limits_splits_by_its_headers(
    tmp_path: Path, standards: Path
) -> None:
    sim = await _central(
        tmp_path, standards, capture_limit=30, file_size_limit=9_000, advertise_limits=False
    )
    outbox = _filled(90)
    sync = EpcisSync(outbox, quick_settings(sim.epcis_url))
    try:
        assert await _drain(sync) == 90
        sizes = _doc_sizes(sim)
        assert all(n <= 30 and size <= 9_000 for n, size in sizes)
        assert sum(n for n, _ in sizes) == 90
        assert sim.epcis is not None and sim.epcis.counters.too_large >= 1
        assert sim.store is not None and sim.store.count() == 90
    finally:
        await sync.close()
        await sim.close()


async def test_a_configured_limit_below_the_repository_s_is_kept(
    central: CentralSimulator,
) -> None:
    outbox = _filled(25)
    sync = EpcisSync(outbox, quick_settings(central.epcis_url, capture_limit=10))
    try:
        assert await _drain(sync) == 25
        assert [n for n, _ in _doc_sizes(central)] == [10, 10, 5]
    finally:
        await sync.close()


async def test_an_event_above_the_size_limit_stays_pending_with_a_clear_error(
    tmp_path: Path, standards: Path
) -> None:
    sim = await _central(tmp_path, standards, file_size_limit=600)
    outbox = _filled(3)
    sync = EpcisSync(outbox, quick_settings(sim.epcis_url))
    try:
        with pytest.raises(DeliveryError, match=r"alone makes a \d+-byte document.*600 bytes"):
            await _drain(sync, max_failures=2)
        status = await sync.status()
        assert status.backlog == 3 and status.state is SyncState.BACKING_OFF
        assert "event #1" in (status.last_error or "")
        assert outbox.failures and outbox.failures[-1][0] == (1, 2, 3)
        assert sim.store is not None and sim.store.count() == 0
    finally:
        await sync.close()
        await sim.close()


async def test_a_wrong_token_is_reported_and_retried_at_the_longest_delay(
    tmp_path: Path, standards: Path
) -> None:
    sim = await _central(tmp_path, standards, bearer_token="right")
    outbox = _filled(5)
    sync = EpcisSync(outbox, quick_settings(sim.epcis_url, token="wrong", backoff_max_s=0.2))
    try:
        with pytest.raises(DeliveryError, match="check the token"):
            await _drain(sync, max_failures=1)
        status = await sync.status()
        assert status.backlog == 5
        assert status.next_attempt_at is not None and status.last_error_at is not None
        wait = (status.next_attempt_at - status.last_error_at).total_seconds()
        assert 0.2 * 0.8 <= wait <= 0.2 * 1.2  # fatal: the maximum delay at once
    finally:
        await sync.close()
    good = EpcisSync(outbox, quick_settings(sim.epcis_url, token="right"))
    try:
        assert await _drain(good) == 5
    finally:
        await good.close()
        await sim.close()


async def test_tls_with_a_client_certificate_and_a_bearer_token(
    tmp_path: Path, standards: Path
) -> None:
    tls = make_tls_files(tmp_path)
    sim = CentralSimulator(
        central_config(tmp_path, standards, bearer_token="s3cret"),
        serve_opcua=False,
        ssl_context=tls.server_context(require_client_cert=True),
    )
    await sim.start()
    token_file = tmp_path / "epcis.token"
    token_file.write_text("s3cret\n")
    outbox = _filled(12)
    without_cert = EpcisSync(
        outbox, quick_settings(sim.epcis_url, ca_file=tls.ca, token_file=token_file)
    )
    with_cert = EpcisSync(
        outbox,
        quick_settings(
            sim.epcis_url,
            ca_file=tls.ca,
            client_cert=tls.client_cert,
            client_key=tls.client_key,
            token_file=token_file,
        ),
    )
    try:
        assert sim.epcis_url.startswith("https://")
        with pytest.raises(DeliveryError):
            await _drain(without_cert, max_failures=1)
        assert await _drain(with_cert) == 12
        assert sim.store is not None and sim.store.count() == 12
    finally:
        await without_cert.close()
        await with_cert.close()
        await sim.close()


async def test_a_repository_that_reports_duplicates_still_gets_everything_once(
    tmp_path: Path, standards: Path
) -> None:
    sim = await _central(tmp_path, standards, duplicates="reject", capture_limit=50)
    await sim.set_faults(fail_next_jobs=1, job_failure_keep=7)
    outbox = _filled(120)
    sync = EpcisSync(outbox, quick_settings(sim.epcis_url), rng=random.Random(1))
    try:
        assert await _drain(sync) == 120
        assert sim.store is not None and sim.epcis is not None
        stored = sim.store.events()
        assert [s.event_id for s in stored] == [i.event_id for i in outbox.items]
        jobs = sim.store.jobs()
        duplicate_errors = [
            e for job in jobs for e in job["errors"] if e["type"].endswith("AlreadyExistsException")
        ]
        assert len(duplicate_errors) == 7  # the seven stored before the failure, named once
        assert {e["instance"] for e in duplicate_errors} == {i.event_id for i in outbox.items[:7]}
    finally:
        await sync.close()
        await sim.close()


class DownMidJob(MemoryOutbox):
    """The repository goes down right after accepting a document and is back after a failure."""

    def __init__(self, sim: CentralSimulator) -> None:
        super().__init__()
        self.sim = sim

    async def record_failure(self, ids: Sequence[int], error: str) -> None:
        await super().record_failure(ids, error)
        await self.sim.set_faults(epcis_down=False)


async def test_a_repository_down_while_its_job_runs_gets_the_document_again_once(
    tmp_path: Path, standards: Path
) -> None:
    sim = await _central(tmp_path, standards, job_delay_s=0.05)
    assert sim.store is not None
    outbox = DownMidJob(sim)
    for event in commissioning_events(30, batch="LOT-9", first_serial=900_000):
        outbox.add(event, "LOT-9")
    open_job = sim.store.open_job
    downs: list[asyncio.Task[Any]] = []

    def open_then_go_down(*args: Any) -> str:
        capture_id = open_job(*args)
        if not downs:  # only the first document
            loop.call_soon_threadsafe(
                lambda: downs.append(asyncio.ensure_future(sim.set_faults(epcis_down=True)))
            )
        return capture_id

    loop = asyncio.get_running_loop()
    sim.store.open_job = open_then_go_down  # type: ignore[method-assign]
    sync = EpcisSync(outbox, quick_settings(sim.epcis_url, job_timeout_s=0.3))
    try:
        assert await _drain(sync) == 30
        await asyncio.gather(*downs)
        assert sim.epcis is not None
        await sim.epcis.wait_idle()
        assert len(sim.epcis.received) == 2  # sent, then sent again after the lost job
        assert sim.store.count() == 30
        assert len(outbox.failures) == 1  # the job's end (or its 202) never reached the line
        check_event_ids(sim.store.events())
    finally:
        await sync.close()
        await sim.close()


async def test_status_reports_the_backlog_and_the_oldest_event_age(
    central: CentralSimulator,
) -> None:
    queued_at = datetime(2026, 3, 2, 6, 0, tzinfo=UTC)
    now = queued_at + timedelta(minutes=90)
    outbox = _filled(8, at=queued_at)
    sync = EpcisSync(outbox, quick_settings(central.epcis_url), clock=lambda: now)
    try:
        before = await sync.status()
        assert before.backlog == 8 and before.oldest_undelivered_age_s == 90 * 60
        await _drain(sync)
        after = await sync.status()
        assert after.backlog == 0 and after.oldest_undelivered_age_s is None
        assert after.delivered == 8 and after.documents == 1 and after.state is SyncState.IDLE
        assert after.last_success_at == now
    finally:
        await sync.close()


class WatchedOutbox(MemoryOutbox):
    def __init__(self) -> None:
        super().__init__()
        self.emptied = asyncio.Event()

    async def mark_delivered(self, ids: Sequence[int]) -> None:
        await super().mark_delivered(ids)
        if (await self.backlog()).count == 0:
            self.emptied.set()


async def test_the_background_sync_sends_what_is_queued_when_woken(
    central: CentralSimulator, standards: Path
) -> None:
    outbox = WatchedOutbox()
    sync = EpcisSync(outbox, quick_settings(central.epcis_url, idle_check_s=60))
    sync.start()
    try:
        for event in commissioning_events(7, batch="LOT-W", first_serial=700_000):
            outbox.add(event, "LOT-W")
        sync.wake()
        async with asyncio.timeout(10):
            await outbox.emptied.wait()
        assert central.epcis is not None and central.store is not None
        await central.epcis.wait_idle()
        assert central.store.count() == 7
        assert check_received_documents(central.epcis.received, standards) == 1
    finally:
        await sync.close()
        await sync.close()
    assert (await sync.status()).state is SyncState.STOPPED


class ShuffledOutbox(MemoryOutbox):
    async def pending(self, limit: int) -> Sequence[OutboxItem]:
        return list(reversed(await super().pending(limit)))


async def test_an_outbox_out_of_order_is_refused_not_sent(central: CentralSimulator) -> None:
    outbox = ShuffledOutbox()
    for event in commissioning_events(3, batch="LOT-O", first_serial=800_000):
        outbox.add(event, "LOT-O")
    sync = EpcisSync(outbox, quick_settings(central.epcis_url))
    try:
        with pytest.raises(DeliveryError, match="out of queue order"):
            await _drain(sync, max_failures=1)
        assert central.store is not None and central.store.count() == 0
    finally:
        await sync.close()
