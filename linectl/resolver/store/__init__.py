"""The resolver's data access: the only package of the resolver that speaks SQL.

:func:`open_store` opens SQLite (``sqlite:///...``) or PostgreSQL (``postgresql://...``),
migrates the schema forward and returns a :class:`Store` whose methods are the same on both.
"""

from __future__ import annotations

from linectl.resolver.store.database import (
    Database,
    PostgresDatabase,
    SqliteDatabase,
    StoreError,
    open_database,
)
from linectl.resolver.store.feed_queries import FeedQueries
from linectl.resolver.store.scan_log import ScanLog
from linectl.resolver.store.scan_queries import DecommissionError, ScanQueries, ScanRequest
from linectl.resolver.store.schema import SCHEMA_VERSION, migrate

__all__ = [
    "SCHEMA_VERSION",
    "DecommissionError",
    "ScanRequest",
    "Store",
    "StoreError",
    "open_store",
]


class Store(FeedQueries, ScanQueries):
    """Everything the resolver reads and writes, over one database."""

    def __init__(self, db: Database) -> None:
        self.db = db
        self._months: set[str] = set()
        self._scan_log = ScanLog(db)  # PostgreSQL's scan rows, written in batches

    @property
    def dialect(self) -> str:
        return self.db.dialect

    async def schema_version(self) -> int:
        async with self.db.transaction(write=False) as tx:
            row = await tx.fetchone("SELECT version FROM schema_version")
        return int(row[0]) if row else 0

    async def close(self) -> None:
        """Write the scans still waiting, then close the database."""
        try:
            await self._scan_log.close()
        finally:
            await self.db.close()


async def open_store(url: str, pool_size: int = 4) -> Store:
    """Open the database at ``url`` and bring its schema up to date."""
    db: SqliteDatabase | PostgresDatabase = await open_database(url, pool_size)
    try:
        await migrate(db)
    except BaseException:
        await db.close()
        raise
    return Store(db)
