"""One small async interface over SQLite (embedded default) and PostgreSQL (psycopg 3).

The resolver's queries are written once with ``?`` placeholders; :class:`PostgresDatabase`
turns them into ``%s``. SQLite runs on one dedicated thread (never in the event loop) with WAL,
so several worker processes can share the file; PostgreSQL uses a connection pool for
transactions and :class:`_Lanes` for the one-statement transactions every scan makes.
"""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Literal, Protocol, TypeVar

from psycopg import AsyncConnection, AsyncCursor
from psycopg.pq import TransactionStatus
from psycopg_pool import AsyncConnectionPool

Row = tuple[Any, ...]
Dialect = Literal["sqlite", "postgresql"]
T = TypeVar("T")


class StoreError(Exception):
    """The database cannot be opened or used; the message says which and why."""


class Tx(Protocol):
    """One transaction: statements run in order, all or nothing."""

    async def execute(self, sql: str, args: Sequence[Any] = ()) -> int: ...
    async def fetchone(self, sql: str, args: Sequence[Any] = ()) -> Row | None: ...
    async def fetchall(self, sql: str, args: Sequence[Any] = ()) -> list[Row]: ...
    async def executemany(self, sql: str, rows: Iterable[Sequence[Any]]) -> None: ...
    async def copy_rows(self, table: str, columns: Sequence[str], rows: Iterable[Row]) -> None: ...


class Database(Protocol):
    dialect: Dialect

    def transaction(self, *, write: bool = True) -> contextlib.AbstractAsyncContextManager[Tx]: ...
    async def run(self, body: Callable[[Tx], Awaitable[T]], *, write: bool = True) -> T: ...
    async def statement(self, sql: str, args: Sequence[Any] = ()) -> Row | None: ...
    async def close(self) -> None: ...


# -- SQLite --------------------------------------------------------------------------------------


class _SqliteTx:
    def __init__(self, db: SqliteDatabase) -> None:
        self._db = db

    async def execute(self, sql: str, args: Sequence[Any] = ()) -> int:
        return await self._db.call(lambda c: c.execute(sql, tuple(args)).rowcount)

    async def fetchone(self, sql: str, args: Sequence[Any] = ()) -> Row | None:
        return await self._db.call(lambda c: c.execute(sql, tuple(args)).fetchone())

    async def fetchall(self, sql: str, args: Sequence[Any] = ()) -> list[Row]:
        return await self._db.call(lambda c: c.execute(sql, tuple(args)).fetchall())

    async def executemany(self, sql: str, rows: Iterable[Sequence[Any]]) -> None:
        await self._db.call(lambda c: c.executemany(sql, rows))

    async def copy_rows(self, table: str, columns: Sequence[str], rows: Iterable[Row]) -> None:
        marks = ", ".join("?" * len(columns))
        sql = f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({marks})"
        await self.executemany(sql, rows)


class _DirectTx:
    """Statements run at once: used by :meth:`SqliteDatabase.run` on the database thread."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self._conn = conn

    async def execute(self, sql: str, args: Sequence[Any] = ()) -> int:
        return self._conn.execute(sql, tuple(args)).rowcount

    async def fetchone(self, sql: str, args: Sequence[Any] = ()) -> Row | None:
        row: Row | None = self._conn.execute(sql, tuple(args)).fetchone()
        return row

    async def fetchall(self, sql: str, args: Sequence[Any] = ()) -> list[Row]:
        return self._conn.execute(sql, tuple(args)).fetchall()

    async def executemany(self, sql: str, rows: Iterable[Sequence[Any]]) -> None:
        self._conn.executemany(sql, rows)

    async def copy_rows(self, table: str, columns: Sequence[str], rows: Iterable[Row]) -> None:
        marks = ", ".join("?" * len(columns))
        self._conn.executemany(f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({marks})", rows)


class SqliteDatabase:
    """One SQLite file, one connection on one thread, transactions one at a time."""

    dialect: Dialect = "sqlite"

    def __init__(self, path: str) -> None:
        self.path = path
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="resolver-sqlite")
        self._lock = asyncio.Lock()
        self._conn: sqlite3.Connection | None = None
        self._db_loop: asyncio.AbstractEventLoop | None = None  # lives on the database thread

    async def open(self) -> None:
        def connect() -> sqlite3.Connection:
            conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
            conn.execute("PRAGMA busy_timeout = 10000")  # other worker processes may be writing
            conn.execute("PRAGMA journal_mode = WAL")
            conn.execute("PRAGMA synchronous = NORMAL")
            conn.execute("PRAGMA foreign_keys = ON")
            self._db_loop = asyncio.new_event_loop()
            return conn

        try:
            self._conn = await asyncio.get_running_loop().run_in_executor(self._executor, connect)
        except sqlite3.Error as exc:
            raise StoreError(f"SQLite database {self.path}: {exc}") from exc

    async def call(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        conn = self._conn
        if conn is None:
            raise StoreError("the SQLite database is closed")
        return await asyncio.get_running_loop().run_in_executor(self._executor, fn, conn)

    @contextlib.asynccontextmanager
    async def transaction(self, *, write: bool = True) -> AsyncIterator[Tx]:
        async with self._lock:
            await self.call(lambda c: c.execute("BEGIN IMMEDIATE" if write else "BEGIN"))
            try:
                yield _SqliteTx(self)
            except BaseException:
                await asyncio.shield(self.call(lambda c: c.execute("ROLLBACK")))
                raise
            await self.call(lambda c: c.execute("COMMIT"))

    async def run(self, body: Callable[[Tx], Awaitable[T]], *, write: bool = True) -> T:
        """One transaction in one hop to the database thread: ``body`` runs there whole."""
        conn, db_loop = self._conn, self._db_loop
        if conn is None or db_loop is None:
            raise StoreError("the SQLite database is closed")

        async def whole() -> T:
            conn.execute("BEGIN IMMEDIATE" if write else "BEGIN")
            try:
                result = await body(_DirectTx(conn))
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            conn.execute("COMMIT")
            return result

        def in_thread(coro: Coroutine[Any, Any, T]) -> T:
            return db_loop.run_until_complete(coro)

        async with self._lock:
            return await asyncio.get_running_loop().run_in_executor(
                self._executor, in_thread, whole()
            )

    async def statement(self, sql: str, args: Sequence[Any] = ()) -> Row | None:
        """One statement as its own transaction; its first row."""
        return await self.run(lambda tx: tx.fetchone(sql, args))

    async def close(self) -> None:
        conn, self._conn = self._conn, None
        db_loop, self._db_loop = self._db_loop, None

        def shut() -> None:
            if conn is not None:
                conn.close()
            if db_loop is not None:
                db_loop.close()

        await asyncio.get_running_loop().run_in_executor(self._executor, shut)
        self._executor.shutdown(wait=True)


# -- PostgreSQL ----------------------------------------------------------------------------------


def _pg(sql: str) -> str:
    return sql.replace("?", "%s")


class _PostgresTx:
    def __init__(self, conn: AsyncConnection[Any]) -> None:
        self._conn = conn

    async def execute(self, sql: str, args: Sequence[Any] = ()) -> int:
        cur = await self._conn.execute(_pg(sql), tuple(args))
        return cur.rowcount

    async def fetchone(self, sql: str, args: Sequence[Any] = ()) -> Row | None:
        cur = await self._conn.execute(_pg(sql), tuple(args))
        return await cur.fetchone()

    async def fetchall(self, sql: str, args: Sequence[Any] = ()) -> list[Row]:
        cur = await self._conn.execute(_pg(sql), tuple(args))
        return await cur.fetchall()

    async def executemany(self, sql: str, rows: Iterable[Sequence[Any]]) -> None:
        async with self._conn.cursor() as cur:
            await cur.executemany(_pg(sql), list(rows))

    async def copy_rows(self, table: str, columns: Sequence[str], rows: Iterable[Row]) -> None:
        async with self._conn.cursor() as cur:
            sql = f"COPY {table} ({', '.join(columns)}) FROM STDIN"
            async with cur.copy(sql) as copy:
                for row in rows:
                    await copy.write_row(row)


_Lane = tuple[AsyncConnection[Any], AsyncCursor[Any]]


class _Lanes:
    """Up to ``size`` autocommit connections, each with its cursor, for one statement at a time.

    Taken and given back with a list and a queue, not the pool's bookkeeping (which cost a
    verification as much as the rest of its statement's client side). A connection given back
    broken, closed or inside a transaction (a cancelled statement) is closed; the next statement
    that needs one opens a new one.
    """

    def __init__(self, conninfo: str, size: int) -> None:
        self._conninfo = conninfo
        self._size = size
        self._opened = 0  # open, or being opened
        self._idle: asyncio.Queue[_Lane | None] = asyncio.Queue()  # None: open a new one
        self._all: set[AsyncConnection[Any]] = set()

    async def take(self) -> _Lane:
        if self._idle.empty() and self._opened < self._size:
            self._opened += 1
            return await self._connect()
        lane = await self._idle.get()
        return lane if lane is not None else await self._connect()

    async def _connect(self) -> _Lane:
        try:
            conn = await AsyncConnection.connect(self._conninfo, autocommit=True)
        except BaseException:
            self._give_up_one()
            raise
        self._all.add(conn)
        return conn, conn.cursor()

    def _give_up_one(self) -> None:
        """One connection fewer: a statement waiting for one may open its own."""
        self._opened -= 1
        if self._opened < self._size and self._idle.empty():
            self._opened += 1
            self._idle.put_nowait(None)

    async def give_back(self, lane: _Lane) -> None:
        conn = lane[0]
        if not conn.closed and conn.pgconn.transaction_status == TransactionStatus.IDLE:
            self._idle.put_nowait(lane)
            return
        self._all.discard(conn)
        self._give_up_one()
        with contextlib.suppress(Exception):
            await conn.close()

    async def close(self) -> None:
        conns, self._all = self._all, set()
        for conn in conns:
            with contextlib.suppress(Exception):
                await conn.close()


class PostgresDatabase:
    """A PostgreSQL server: a pool of ``size`` connections for transactions, and up to ``size``
    more for the single statements of the scans."""

    dialect: Dialect = "postgresql"

    def __init__(self, conninfo: str, size: int = 4) -> None:
        self._pool: AsyncConnectionPool[AsyncConnection[Any]] = AsyncConnectionPool(
            conninfo, min_size=size, max_size=size, open=False, kwargs={"autocommit": True}
        )
        self._lanes = _Lanes(conninfo, size)
        self.conninfo = conninfo

    async def open(self) -> None:
        try:
            await self._pool.open(wait=True, timeout=15)
        except Exception as exc:
            await self._pool.close()
            raise StoreError(f"PostgreSQL {_safe(self.conninfo)}: {exc}") from exc

    @contextlib.asynccontextmanager
    async def transaction(self, *, write: bool = True) -> AsyncIterator[Tx]:
        async with self._pool.connection() as conn, conn.transaction():
            yield _PostgresTx(conn)

    async def run(self, body: Callable[[Tx], Awaitable[T]], *, write: bool = True) -> T:
        """One transaction in pipeline mode: statements whose results are not read yet travel
        together (BEGIN with the first query, the last writes with COMMIT)."""
        async with self._pool.connection() as conn, conn.pipeline(), conn.transaction():
            return await body(_PostgresTx(conn))

    async def statement(self, sql: str, args: Sequence[Any] = ()) -> Row | None:
        """One statement as its own transaction (autocommit: one round trip); its first row."""
        lane = await self._lanes.take()
        try:
            await lane[1].execute(_pg(sql), tuple(args))
            return await lane[1].fetchone()
        finally:
            await self._lanes.give_back(lane)

    async def close(self) -> None:
        try:
            await self._lanes.close()
        finally:
            await self._pool.close()


def _safe(conninfo: str) -> str:
    """The connection string without a password, for messages."""
    head, at, tail = conninfo.rpartition("@")
    if not at:
        return conninfo
    scheme, _, user = head.partition("://")
    return f"{scheme}://{user.partition(':')[0]}@{tail}"


async def open_database(url: str, pool_size: int = 4) -> SqliteDatabase | PostgresDatabase:
    """``sqlite:///RELATIVE``, ``sqlite:////ABSOLUTE`` or ``postgresql://...``, opened."""
    db: SqliteDatabase | PostgresDatabase
    if url.startswith("sqlite:///"):
        db = SqliteDatabase(url.removeprefix("sqlite:///"))
    elif url.startswith(("postgresql://", "postgres://")):
        db = PostgresDatabase(url, pool_size)
    else:
        raise StoreError(f"database {url!r}: use sqlite:///PATH or postgresql://...")
    await db.open()
    return db
