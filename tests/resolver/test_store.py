"""The data-access package on both databases: forward migrations, monthly scan partitions, purge."""

from __future__ import annotations

import json
from datetime import UTC, datetime

from linectl.resolver.products import products_from_json
from linectl.resolver.store import SCHEMA_VERSION, ScanRequest, open_store
from linectl.resolver.store.schema import month_bounds, scan_partitions
from linectl.resolver.verdict import verify
from tests.resolver.kit import GTIN, PRODUCTS


def _ms(year: int, month: int, day: int) -> int:
    return int(datetime(year, month, day, 12, tzinfo=UTC).timestamp() * 1000)


async def test_the_schema_migrates_once_and_reopening_changes_nothing(database_url: str) -> None:
    store = await open_store(database_url, 1)
    try:
        assert await store.schema_version() == SCHEMA_VERSION
    finally:
        await store.close()
    again = await open_store(database_url, 1)
    try:
        assert await again.schema_version() == SCHEMA_VERSION
    finally:
        await again.close()


async def test_scans_land_in_monthly_partitions_and_old_months_are_purged(
    database_url: str,
) -> None:
    store = await open_store(database_url, 1)
    try:
        await store.upsert_products(products_from_json(json.dumps(PRODUCTS)), 0)
        when = [_ms(2026, 10, 30), _ms(2026, 11, 2), _ms(2026, 12, 1)]
        for at_ms in when:
            request = ScanRequest(at_ms, GTIN, "S1", None, "DE", "en", "api")
            outcome = await store.scan(
                request,
                lambda rec, lot: verify(GTIN, "S1", None, rec, lot, datetime(2026, 12, 4).date()),
                lambda product, result, countries: [],
                3_600_000,
                lambda draft: [],
            )
            assert outcome is not None
        if store.dialect == "postgresql":
            async with store.db.transaction() as tx:
                parts = await scan_partitions(tx)
            assert parts == ["scans_2026_10", "scans_2026_11", "scans_2026_12"]
        removed = await store.purge_scans(month_bounds(_ms(2026, 11, 15))[1])  # before November
        assert removed == 1
        left = await store.scans_of(GTIN, "S1")
        assert [s.at_ms for s in left] == when[1:]
        if store.dialect == "postgresql":
            async with store.db.transaction() as tx:
                assert await scan_partitions(tx) == ["scans_2026_11", "scans_2026_12"]
    finally:
        await store.close()


async def test_a_scan_reads_the_product_data_imported_last(database_url: str) -> None:
    store = await open_store(database_url, 1)

    async def scan_sees() -> tuple[str, tuple[str, ...]]:
        outcome = await store.scan(
            ScanRequest(_ms(2026, 12, 1), GTIN, "S1", None, "DE", "en", "api"),
            lambda rec, lot: verify(GTIN, "S1", None, rec, lot, datetime(2026, 12, 4).date()),
            lambda product, result, countries: [],
            3_600_000,
            lambda draft: [],
        )
        assert outcome is not None
        return outcome[0].name("en"), outcome[0].target_markets

    try:
        await store.upsert_products(products_from_json(json.dumps(PRODUCTS)), 0)
        first = await scan_sees()
        changed = json.loads(json.dumps(PRODUCTS))
        changed["products"][0]["names"] = {"en": "Renamed tablets"}
        changed["products"][0]["target_markets"] = ["FR"]
        await store.upsert_products(products_from_json(json.dumps(changed)), 1)
        assert await scan_sees() == ("Renamed tablets", ("FR",))
        await store.upsert_products(products_from_json(json.dumps(PRODUCTS)), 2)
        assert await scan_sees() == first
    finally:
        await store.close()
