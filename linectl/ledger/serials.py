"""Serial pool operations inside an open write transaction: resolve, check and apply transitions.

Every function here assumes the caller holds ``BEGIN IMMEDIATE``; checks run before any write,
and the caller rolls back on any exception, so a refused command changes nothing.
"""

from __future__ import annotations

import sqlite3
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from linectl.ledger.errors import (
    AmbiguousSerial,
    DuplicateSerial,
    IllegalTransition,
    UnknownSerial,
    ValidationError,
)
from linectl.ledger.models import HistoryEntry
from linectl.ledger.states import SerialState, is_legal
from linectl.ledger.validation import check_serial


@dataclass(frozen=True)
class SerialRow:
    """A serial as stored."""

    id: int
    gtin: str
    serial: str
    batch: str
    state: SerialState


_SELECT = "SELECT id, gtin, serial, batch, state FROM serials"


def _row(raw: tuple[Any, ...]) -> SerialRow:
    row_id, gtin, serial, batch, state = raw
    return SerialRow(int(row_id), str(gtin), str(serial), str(batch), SerialState(state))


def resolve(conn: sqlite3.Connection, serials: Sequence[str], gtin: str | None) -> list[SerialRow]:
    """Look up each serial; refuse repeats, unknown serials and (without a GTIN) ambiguous ones."""
    if isinstance(serials, str):
        raise ValidationError(
            "expected a list of serials, got one string", field="serials", value=serials
        )
    first_seen: dict[str, int] = {}
    rows: list[SerialRow] = []
    for index, serial in enumerate(serials):
        if not isinstance(serial, str):
            raise ValidationError("must be a string", field="serial", value=serial, index=index)
        if serial in first_seen:
            raise DuplicateSerial(
                f"given twice in one command (first at index {first_seen[serial]})",
                field="serial",
                value=serial,
                index=index,
            )
        first_seen[serial] = index
        if gtin is None:
            found = conn.execute(f"{_SELECT} WHERE serial = ?", (serial,)).fetchall()
        else:
            found = conn.execute(
                f"{_SELECT} WHERE gtin = ? AND serial = ?", (gtin, serial)
            ).fetchall()
        if not found:
            raise UnknownSerial(serial, gtin, index)
        if len(found) > 1:
            raise AmbiguousSerial(serial, sorted(str(r[1]) for r in found))
        rows.append(_row(found[0]))
    return rows


def in_state(
    conn: sqlite3.Connection, batch: str, state: SerialState, limit: int
) -> list[SerialRow]:
    """Up to ``limit`` serials of ``batch`` in ``state``, in import order (oldest first)."""
    raw = conn.execute(
        f"{_SELECT} WHERE batch = ? AND state = ? ORDER BY id LIMIT ?", (batch, int(state), limit)
    ).fetchall()
    return [_row(r) for r in raw]


def check_moves(moves: Iterable[tuple[SerialRow, SerialState]]) -> None:
    """Raise IllegalTransition for the first illegal move, counting the other illegal ones."""
    illegal = [(row, to) for row, to in moves if not is_legal(row.state, to)]
    if illegal:
        row, to = illegal[0]
        raise IllegalTransition(row.serial, row.state, to, others=len(illegal) - 1)


def apply_moves(
    conn: sqlite3.Connection,
    moves: Sequence[tuple[SerialRow, SerialState, str]],
    *,
    at: str,
    actor: str,
) -> None:
    """Write new states and one history row per serial (moves were checked before)."""
    conn.executemany(
        "UPDATE serials SET state = ?, updated_at = ? WHERE id = ?",
        [(int(to), at, row.id) for row, to, _ in moves],
    )
    conn.executemany(
        "INSERT INTO serial_history (serial_id, from_state, to_state, at, reason, actor) "
        "VALUES (?, ?, ?, ?, ?, ?)",
        [(row.id, int(row.state), int(to), at, reason, actor) for row, to, reason in moves],
    )


def count_states(states: Iterable[SerialState]) -> dict[str, int]:
    """Counts by OPEN-SCS label, in state order, for audit summaries."""
    counts = Counter(states)
    return {state.label: counts[state] for state in sorted(counts)}


def check_new(items: Sequence[object]) -> list[str]:
    """Serials to import: each 1-20 chars of CSET 82, none repeated; errors name index and line."""
    first_seen: dict[str, int] = {}
    for index, serial in enumerate(items):
        serial = check_serial(serial, index=index)
        if serial in first_seen:
            earlier = first_seen[serial]
            raise DuplicateSerial(
                f"repeats index {earlier} (line {earlier + 1})",
                field="serial",
                value=serial,
                index=index,
            )
        first_seen[serial] = index
    return list(first_seen)


def check_not_held(conn: sqlite3.Connection, gtin: str, serials: Sequence[str]) -> None:
    """Refuse the first serial the ledger already holds for this GTIN, in any batch or state."""
    for index, serial in enumerate(serials):
        held = conn.execute(
            "SELECT batch, state FROM serials WHERE gtin = ? AND serial = ?", (gtin, serial)
        ).fetchone()
        if held is not None:
            raise DuplicateSerial(
                f"already in the ledger for GTIN {gtin} (batch {held[0]}, "
                f"{SerialState(held[1]).label})",
                field="serial",
                value=serial,
                index=index,
            )


def insert_allocated(
    conn: sqlite3.Connection,
    *,
    gtin: str,
    batch: str,
    serials: Sequence[str],
    at: str,
    actor: str,
    reason: str,
) -> None:
    """Store checked serials as Allocated, each with its arrival row in the history."""
    allocated = int(SerialState.ALLOCATED)
    ids = [
        conn.execute(
            "INSERT INTO serials (gtin, serial, batch, state, updated_at) VALUES (?, ?, ?, ?, ?)",
            (gtin, serial, batch, allocated, at),
        ).lastrowid
        for serial in serials
    ]
    conn.executemany(
        "INSERT INTO serial_history (serial_id, from_state, to_state, at, reason, actor) "
        "VALUES (?, NULL, ?, ?, ?, ?)",
        [(serial_id, allocated, at, reason, actor) for serial_id in ids],
    )


def history(conn: sqlite3.Connection, serial_id: int) -> list[HistoryEntry]:
    """Every state change of one serial, oldest first."""
    rows = conn.execute(
        "SELECT from_state, to_state, at, reason, actor FROM serial_history "
        "WHERE serial_id = ? ORDER BY id",
        (serial_id,),
    )
    return [
        HistoryEntry(None if f is None else SerialState(f), SerialState(t), at, reason, actor)
        for f, t, at, reason, actor in rows
    ]


def batch_counts(conn: sqlite3.Connection, batch: str) -> dict[str, int]:
    """Serials of a batch by state label, for audit summaries."""
    rows = conn.execute(
        "SELECT state, count(*) FROM serials WHERE batch = ? GROUP BY state ORDER BY state",
        (batch,),
    )
    return {SerialState(state).label: count for state, count in rows}
