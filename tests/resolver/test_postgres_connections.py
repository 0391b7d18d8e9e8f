"""PostgreSQL's connections for the scans' single statements: bounded, and replaced when lost."""

from __future__ import annotations

import asyncio

import psycopg
import pytest

from linectl.resolver.store.database import PostgresDatabase, open_database


async def _backends(url: str) -> int:
    """Client connections to this test's database, the caller's own not counted."""
    async with await psycopg.AsyncConnection.connect(url, autocommit=True) as conn:
        cur = await conn.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
            "AND pid <> pg_backend_pid() AND backend_type = 'client backend'"
        )
        row = await cur.fetchone()
    assert row is not None
    return int(row[0])


async def test_statements_at_once_share_at_most_pool_size_connections(postgres_url: str) -> None:
    db = await open_database(postgres_url, 2)
    try:
        rows = await asyncio.gather(*(db.statement("SELECT ?::int", (n,)) for n in range(20)))
        assert rows == [(n,) for n in range(20)]
        assert await _backends(postgres_url) <= 2 + 2  # the pool's two, at most two for statements
    finally:
        await db.close()


async def test_a_statement_cancelled_midway_does_not_spoil_the_next_ones(postgres_url: str) -> None:
    db = await open_database(postgres_url, 1)
    try:
        with pytest.raises(TimeoutError):  # cancelled while the server sleeps, or before
            await asyncio.wait_for(db.statement("SELECT pg_sleep(3)"), timeout=0.2)
        assert [await db.statement("SELECT ?::int", (n,)) for n in range(3)] == [(0,), (1,), (2,)]
    finally:
        await db.close()


async def test_a_connection_the_server_dropped_fails_one_statement_then_is_replaced(
    postgres_url: str,
) -> None:
    db = await open_database(postgres_url, 1)
    assert isinstance(db, PostgresDatabase)
    try:
        first = await db.statement("SELECT pg_backend_pid()")
        assert first is not None
        async with await psycopg.AsyncConnection.connect(postgres_url, autocommit=True) as admin:
            await admin.execute("SELECT pg_terminate_backend(%s, 10000)", (first[0],))  # waits
        with pytest.raises(psycopg.OperationalError):
            await db.statement("SELECT pg_backend_pid()")
        again = await db.statement("SELECT pg_backend_pid()")
        assert again is not None and again[0] != first[0]
    finally:
        await db.close()
