"""The ledger's one SQLite connection: pragmas, migrations, a lock, and explicit transactions.

Thread safety: one connection per Ledger, opened with ``check_same_thread=False`` and guarded by
a re-entrant lock that every transaction takes, so the daemon may call the ledger from any worker
thread (``asyncio.to_thread``); calls are serialised. Other processes (the CLI) may open the same
file: WAL lets them read while the daemon writes, and writers wait up to ``busy_timeout``.
"""

from __future__ import annotations

import os
import sqlite3
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime

from linectl.ledger.errors import LedgerError, LedgerUnavailable
from linectl.ledger.migrations import MIGRATIONS, Migration, migrate, user_version
from linectl.ledger.validation import check_text

Clock = Callable[[], datetime]

# Primary result codes of a write that failed for a reason outside the data (sqlite3.h).
_UNAVAILABLE = frozenset({5, 6, 10, 13, 14})  # BUSY, LOCKED, IOERR, FULL, CANTOPEN


def utc_now() -> datetime:
    """The wall clock in UTC."""
    return datetime.now(UTC)


def timestamp(moment: datetime) -> str:
    """ISO 8601 UTC with milliseconds and a Z, e.g. 2025-11-21T12:54:00.123Z."""
    if moment.tzinfo is None:
        raise ValueError("ledger clock must return timezone-aware datetimes")
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


class LedgerConnection:
    """Opens and configures the file, applies migrations and runs transactions under a lock."""

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        clock: Clock = utc_now,
        migrations: Sequence[Migration] = MIGRATIONS,
        busy_timeout: float = 5.0,
    ) -> None:
        self.path = os.fspath(path)
        self._clock = clock
        self._lock = threading.RLock()
        self.audit_key: bytes | None = None  # set by IdentityStore.attach_audit_key
        conn = sqlite3.connect(
            self.path, isolation_level=None, check_same_thread=False, timeout=busy_timeout
        )
        try:
            self._configure(conn)
            self.migrated_from, self.schema_version = migrate(conn, self.path, migrations)
        except sqlite3.DatabaseError as exc:
            conn.close()
            raise LedgerError(f"ledger {self.path}: cannot open: {exc}") from exc
        except BaseException:
            conn.close()
            raise
        self._conn: sqlite3.Connection | None = conn

    def _configure(self, conn: sqlite3.Connection) -> None:
        """WAL for concurrent readers, FULL sync so a commit survives power loss, FKs enforced."""
        mode = str(conn.execute("PRAGMA journal_mode = WAL").fetchone()[0])
        if mode.lower() != "wal":
            raise LedgerError(
                f"ledger {self.path}: journal_mode is {mode}, WAL is required (use a file on a "
                "local disk, not :memory: or a network share)"
            )
        conn.execute("PRAGMA synchronous = FULL")
        conn.execute("PRAGMA foreign_keys = ON")

    @property
    def conn(self) -> sqlite3.Connection:
        """The open connection, or LedgerError after close()."""
        if self._conn is None:
            raise LedgerError(f"ledger {self.path} is closed")
        return self._conn

    def close(self) -> None:
        """Close the connection (safe to call twice)."""
        with self._lock:
            if self._conn is not None:
                self._conn.close()
                self._conn = None

    @property
    def closed(self) -> bool:
        """True once close() was called."""
        return self._conn is None

    def now(self) -> str:
        """The current time as stored in the ledger."""
        return timestamp(self._clock())

    @contextmanager
    def write(self) -> Iterator[sqlite3.Connection]:
        """``BEGIN IMMEDIATE`` ... ``COMMIT``; any exception rolls the whole command back.

        A failure outside the data (disk full, I/O error, locked) is LedgerUnavailable.
        """
        with self._lock:
            conn = self.conn
            try:
                conn.execute("BEGIN IMMEDIATE")
                try:
                    yield conn
                    conn.execute("COMMIT")
                except BaseException:
                    if conn.in_transaction:
                        conn.execute("ROLLBACK")
                    raise
            except sqlite3.OperationalError as exc:
                if exc.sqlite_errorcode & 0xFF not in _UNAVAILABLE:
                    raise
                raise LedgerUnavailable(
                    f"ledger {self.path}: {exc} ({exc.sqlite_errorname}); nothing was written"
                ) from exc

    @contextmanager
    def read(self) -> Iterator[sqlite3.Connection]:
        """A read transaction: every query inside sees the same snapshot."""
        with self._lock:
            conn = self.conn
            conn.execute("BEGIN")
            try:
                yield conn
            finally:
                if conn.in_transaction:
                    conn.execute("COMMIT")

    @contextmanager
    def snapshot(self) -> Iterator[sqlite3.Connection]:
        """A read transaction on a separate connection, for long reads (verification).

        It does not take the ledger's lock, so the line keeps writing meanwhile (WAL); every
        query inside sees the same moment of the file.
        """
        if self._conn is None:
            raise LedgerError(f"ledger {self.path} is closed")
        conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        try:
            conn.execute("BEGIN")
            conn.execute("SELECT 1 FROM sqlite_master LIMIT 1").fetchall()  # start the snapshot
            yield conn
        finally:
            conn.close()

    def settings(self) -> dict[str, str | int]:
        """Pragmas as the connection sees them (journal_mode, synchronous, ...)."""
        with self._lock:
            conn = self.conn
            return {
                "path": self.path,
                "journal_mode": str(conn.execute("PRAGMA journal_mode").fetchone()[0]),
                "synchronous": int(conn.execute("PRAGMA synchronous").fetchone()[0]),
                "foreign_keys": int(conn.execute("PRAGMA foreign_keys").fetchone()[0]),
                "user_version": user_version(conn),
                "schema_version": self.schema_version,
            }


def check_actor(actor: str) -> str:
    """Who did it: a user or component name, required on every change."""
    return check_text(actor, "actor", max_len=100)
