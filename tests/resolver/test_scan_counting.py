"""Scans counted per serial across workers: the rules see every earlier scan, none is lost.

Two stores on one database stand for two worker processes. Runs on SQLite and PostgreSQL (the
scan log's batches, PostgreSQL's only, on PostgreSQL).
"""

from __future__ import annotations

import asyncio
import json
import uuid
from datetime import date

import psycopg
import pytest

from harness.postgres import PostgresServer
from linectl.resolver.model import AlertDraft, Product
from linectl.resolver.products import products_from_json
from linectl.resolver.store import ScanRequest, Store, StoreError, open_store
from linectl.resolver.store.database import open_database
from linectl.resolver.store.scan_log import ScanLog
from linectl.resolver.store.schema import MIGRATIONS
from linectl.resolver.verdict import Verification, verify
from tests.resolver.kit import GTIN, LOT, PRODUCTS

HOUR_MS = 3_600_000
T0 = 1_796_000_000_000  # 2026-11-30, inside the serials' shelf life
SERIAL_COLUMNS = ("gtin", "serial", "lot", "expiry", "status", "status_ms", "commissioned_ms")


async def _stock(store: Store, serials: list[str]) -> None:
    await store.upsert_products(products_from_json(json.dumps(PRODUCTS)), 0)
    rows = [(GTIN, s, LOT, "2028-11-30", "commissioned", 0, 0) for s in serials]
    await store.bulk_load("serials", SERIAL_COLUMNS, rows)


async def _scan(
    store: Store, serial: str, at_ms: int, country: str, seen: list[list[str]] | None = None
) -> Verification:
    def remember(product: Product, result: Verification, countries: list[str]) -> list[AlertDraft]:
        if seen is not None:
            seen.append(countries)
        return []

    outcome = await store.scan(
        ScanRequest(at_ms, GTIN, serial, None, country, "en", "api"),
        lambda record, lot: verify(GTIN, serial, None, record, lot, date(2026, 12, 1)),
        remember,
        72 * HOUR_MS,
        lambda draft: [],
    )
    assert outcome is not None
    return outcome[1]


async def test_scans_of_one_serial_at_once_in_two_workers_are_counted_one_after_the_other(
    database_url: str,
) -> None:
    first = await open_store(database_url, 4)
    second = await open_store(database_url, 4)
    try:
        await _stock(first, ["S1"])
        results = await asyncio.gather(
            *(_scan((first, second)[i % 2], "S1", T0 + i, "DE") for i in range(12))
        )
        assert sorted(r.previous_scans for r in results) == list(range(12))
        assert [r.verdict.value for r in results].count("genuine") == 1
        reader = await open_store(database_url, 1)  # a third worker: every answered scan is logged
        try:
            assert len(await reader.scans_of(GTIN, "S1")) == 12
            record = await reader.serial(GTIN, "S1")
            assert record is not None and record.scan_count == 12
            assert record.first_scan_country == "DE"
        finally:
            await reader.close()
    finally:
        await first.close()
        await second.close()


async def test_a_scan_in_another_worker_and_country_is_seen_within_the_window_only(
    database_url: str,
) -> None:
    first = await open_store(database_url, 2)
    second = await open_store(database_url, 2)
    try:
        await _stock(first, ["S2"])
        seen: list[list[str]] = []
        await _scan(first, "S2", T0, "DE", seen)
        await _scan(second, "S2", T0 + HOUR_MS, "AT", seen)
        await _scan(first, "S2", T0 + 2 * HOUR_MS, "DE", seen)
        await _scan(second, "S2", T0 + 74 * HOUR_MS, "FR", seen)  # DE's last scan: 72 h before
        assert seen == [[], ["DE"], ["AT", "DE"], ["DE"]]
    finally:
        await first.close()
        await second.close()


async def test_purging_scans_forgets_the_countries_of_serials_last_scanned_before(
    database_url: str,
) -> None:
    store = await open_store(database_url, 1)
    try:
        await _stock(store, ["S4", "S5"])
        await _scan(store, "S4", T0, "AT")
        await _scan(store, "S5", T0 + 2 * HOUR_MS, "AT")
        await store.purge_scans(T0 + HOUR_MS)
        seen: list[list[str]] = []
        await _scan(store, "S4", T0 + 3 * HOUR_MS, "DE", seen)
        await _scan(store, "S5", T0 + 3 * HOUR_MS, "DE", seen)
        assert seen == [[], ["AT"]]
    finally:
        await store.close()


async def test_an_upgrade_from_schema_1_keeps_the_countries_of_the_scans_logged_before(
    database_url: str,
) -> None:
    db = await open_database(database_url, 1)
    try:
        async with db.transaction() as tx:
            for statement in MIGRATIONS[db.dialect][0].split(";"):
                if statement.strip():
                    await tx.execute(statement)
            await tx.execute("CREATE TABLE schema_version (version INTEGER NOT NULL)")
            await tx.execute("INSERT INTO schema_version (version) VALUES (1)")
            if db.dialect == "postgresql":
                await tx.execute(
                    "CREATE TABLE scans_2026_11 PARTITION OF scans "
                    "FOR VALUES FROM (1793491200000) TO (1796083200000)"
                )
            await tx.execute(
                "INSERT INTO serials (gtin, serial, lot, status, status_ms, commissioned_ms, "
                "scan_count, first_scan_ms, first_scan_country) "
                "VALUES (?, 'S3', ?, 'commissioned', 0, 0, 2, ?, 'AT')",
                (GTIN, LOT, T0 - 5 * HOUR_MS),
            )
            for at_ms, country in ((T0 - 5 * HOUR_MS, "AT"), (T0 - 4 * HOUR_MS, "CH")):
                await tx.execute(
                    "INSERT INTO scans (at_ms, gtin, lot, serial, country, language, verdict, "
                    "source) VALUES (?, ?, ?, 'S3', ?, 'en', 'genuine', 'api')",
                    (at_ms, GTIN, LOT, country),
                )
    finally:
        await db.close()
    store = await open_store(database_url, 1)
    try:
        await store.upsert_products(products_from_json(json.dumps(PRODUCTS)), 0)
        seen: list[list[str]] = []
        result = await _scan(store, "S3", T0, "DE", seen)
        assert seen == [["AT", "CH"]]
        assert (result.previous_scans, result.first_scan_country) == (2, "AT")
    finally:
        await store.close()


async def test_a_scan_batch_postgresql_refuses_fails_its_callers_with_the_reason(
    pg_server: PostgresServer,
) -> None:
    name = "t_" + uuid.uuid4().hex[:12]
    with psycopg.connect(pg_server.url("postgres"), autocommit=True) as conn:
        conn.execute(f"CREATE DATABASE {name}")  # type: ignore[arg-type]
    store = await open_store(pg_server.url(name), 2)
    try:
        scan_log = ScanLog(store.db, backoff_s=0.001)
        good = (T0, GTIN, LOT, "S6", "DE", "en", "genuine", "api")
        await store.ensure_month(T0)
        await scan_log.log(good)
        no_partition = (T0 - 400 * 24 * HOUR_MS, GTIN, LOT, "S7", "DE", "en", "genuine", "api")
        with pytest.raises(StoreError, match=r"the scan log could not be written: .*partition"):
            await scan_log.log(no_partition)
        await scan_log.close()
        with pytest.raises(StoreError, match="closed"):
            await scan_log.log(good)
        assert [s.serial for s in await store.scans_of(GTIN, "S6")] == ["S6"]
    finally:
        await store.close()
        with psycopg.connect(pg_server.url("postgres"), autocommit=True) as conn:
            conn.execute(f"DROP DATABASE {name} WITH (FORCE)")  # type: ignore[arg-type]
