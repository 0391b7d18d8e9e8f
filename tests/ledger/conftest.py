"""Fixtures for ledger tests: real SQLite files under tmp_path, a deterministic clock."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from linectl.ledger import Ledger
from standards.gs1.checkdigit import check_digit

GTIN = "0" + "950600013435"[:12] + check_digit("0" + "950600013435"[:12])
"""A GTIN-14 with a correct check digit (computed, so the test data cannot be wrong)."""

OTHER_GTIN = "1" + GTIN[1:13] + check_digit("1" + GTIN[1:13])


def step_clock(start: datetime | None = None) -> Callable[[], datetime]:
    """A clock that advances one millisecond per reading: reproducible timestamps."""
    moment = start or datetime(2025, 3, 1, 8, 0, tzinfo=UTC)

    def now() -> datetime:
        nonlocal moment
        moment += timedelta(milliseconds=1)
        return moment

    return now


def dump(path: Path) -> dict[str, list[tuple[object, ...]]]:
    """Every row of every table (and user_version), read by a separate plain connection."""
    conn = sqlite3.connect(path)
    try:
        tables = [
            str(r[0])
            for r in conn.execute(
                "SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name"
            )
        ]
        result = {
            t: sorted(conn.execute(f'SELECT * FROM "{t}"').fetchall(), key=repr) for t in tables
        }
        result["user_version"] = [tuple(conn.execute("PRAGMA user_version").fetchone())]
        return result
    finally:
        conn.close()


def serials(n: int, prefix: str = "S") -> list[str]:
    """n distinct CSET 82 serials."""
    return [f"{prefix}{i:06d}" for i in range(n)]


@contextmanager
def tamper(path: Path) -> Iterator[sqlite3.Connection]:
    """A plain sqlite3 connection, as someone with the sqlite3 shell would have, that commits."""
    conn = sqlite3.connect(path, isolation_level=None)
    try:
        yield conn
    finally:
        conn.close()


@pytest.fixture
def ledger_path(tmp_path: Path) -> Path:
    return tmp_path / "ledger.db"


@pytest.fixture
def ledger(ledger_path: Path) -> Iterator[Ledger]:
    with Ledger(ledger_path, clock=step_clock()) as led:
        yield led


def new_batch(
    ledger: Ledger, batch: str = "B1", *, n: int = 0, start: bool = True, gtin: str = GTIN
) -> list[str]:
    """Create a work order, import n serials (prefixed with the batch id), optionally start it."""
    ledger.create_work_order(
        batch=batch,
        gtin=gtin,
        lot=f"LOT{batch}",
        expiry="271231",
        quantity=max(n, 1),
        target_market="DE",
        materials={"carton": "C-118", "leaflet": "L-9"},
        actor="alice",
    )
    items = serials(n, prefix=f"{batch}-")
    if items:
        ledger.import_serials(batch, gtin, items, "alice")
    if start:
        ledger.start_work_order(batch, actor="alice")
    return items
