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
from linectl.ledger.seals import history_head, history_seal, serial_seal
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
    updated_at: str
    row_hash: str | None

    def reseal(self, state: SerialState, at: str) -> str | None:
        """The seal for this row in ``state`` at ``at``; the stale seal if this one was broken.

        A row whose stored seal does not match what was read was edited behind linectl's
        back: it keeps its stale seal so ``verify_audit`` still shows it, never a fresh one.
        """
        current = serial_seal(
            self.id, self.gtin, self.serial, self.batch, int(self.state), self.updated_at
        )
        if current != self.row_hash:
            return self.row_hash
        return serial_seal(self.id, self.gtin, self.serial, self.batch, int(state), at)


_SELECT = "SELECT id, gtin, serial, batch, state, updated_at, row_hash FROM serials"


_STATES = {int(state): state for state in SerialState}


def _row(raw: tuple[Any, ...]) -> SerialRow:
    row_id, gtin, serial, batch, state, updated_at, row_hash = raw
    return SerialRow(
        int(row_id),
        str(gtin),
        str(serial),
        str(batch),
        _STATES.get(state) or SerialState(state),
        str(updated_at),
        None if row_hash is None else str(row_hash),
    )


def resolve(conn: sqlite3.Connection, serials: Sequence[str], gtin: str | None) -> list[SerialRow]:
    """Look up each serial; refuse repeats, unknown serials and (without a GTIN) ambiguous ones.

    The first problem in input order is raised; the look-ups go to SQLite a chunk at a time.
    """
    if isinstance(serials, str):
        raise ValidationError(
            "expected a list of serials, got one string", field="serials", value=serials
        )
    first_seen: dict[str, int] = {}
    refused: Exception | None = None  # the first repeat or non-text, raised at its index
    for index, serial in enumerate(serials):
        if not isinstance(serial, str):
            refused = ValidationError("must be a string", field="serial", value=serial, index=index)
            break
        if serial in first_seen:
            refused = DuplicateSerial(
                f"given twice in one command (first at index {first_seen[serial]})",
                field="serial",
                value=serial,
                index=index,
            )
            break
        first_seen[serial] = index
    found = _look_up(conn, list(first_seen), gtin)
    rows: list[SerialRow] = []
    for index, serial in enumerate(first_seen):
        hits = found.get(serial)
        if not hits:
            raise UnknownSerial(serial, gtin, index)
        if len(hits) > 1:
            raise AmbiguousSerial(serial, sorted(str(r[1]) for r in hits))
        rows.append(_row(hits[0]))
    if refused is not None:
        raise refused
    return rows


_CHUNK = 500  # serials per look-up (well under SQLite's limit of bound parameters)


def _look_up(
    conn: sqlite3.Connection, serials: list[str], gtin: str | None
) -> dict[str, list[tuple[Any, ...]]]:
    """serial -> its rows (of ``gtin``, or of any GTIN without one)."""
    found: dict[str, list[tuple[Any, ...]]] = {}
    for start in range(0, len(serials), _CHUNK):
        chunk = serials[start : start + _CHUNK]
        marks = ",".join("?" * len(chunk))
        if gtin is None:
            raw = conn.execute(f"{_SELECT} WHERE serial IN ({marks})", chunk)
        else:
            raw = conn.execute(f"{_SELECT} WHERE gtin = ? AND serial IN ({marks})", [gtin, *chunk])
        for r in raw:
            found.setdefault(str(r[2]), []).append(r)
    return found


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
    """Write new states (resealed) and one chained history row per serial (moves were checked)."""
    conn.executemany(
        "UPDATE serials SET state = ?, updated_at = ?, row_hash = ? WHERE id = ?",
        [(int(to), at, row.reseal(to, at), row.id) for row, to, _ in moves],
    )
    append_history(
        conn, [(row.id, int(row.state), int(to), reason) for row, to, reason in moves], at, actor
    )


def append_history(
    conn: sqlite3.Connection,
    entries: Sequence[tuple[int, int | None, int, str]],
    at: str,
    actor: str,
) -> None:
    """Append (serial_id, from_state, to_state, reason) rows, each sealed and chained.

    One SELECT for the chain head whatever the number of rows; ids are given explicitly
    (head + 1, ...) because each seal covers its row's id.
    """
    last_id, prev = history_head(conn)
    rows: list[tuple[object, ...]] = []
    for row_id, (serial_id, from_state, to_state, reason) in enumerate(entries, last_id + 1):
        prev = history_seal(row_id, serial_id, from_state, to_state, at, reason, actor, prev)
        rows.append((row_id, serial_id, from_state, to_state, at, reason, actor, prev))
    conn.executemany(
        "INSERT INTO serial_history "
        "(id, serial_id, from_state, to_state, at, reason, actor, row_hash) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        rows,
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
    """Store checked serials as Allocated (sealed), each with its arrival row in the history."""
    allocated = int(SerialState.ALLOCATED)
    first_id = int(conn.execute("SELECT coalesce(max(id), 0) + 1 FROM serials").fetchone()[0])
    ids = range(first_id, first_id + len(serials))
    conn.executemany(
        "INSERT INTO serials (id, gtin, serial, batch, state, updated_at, row_hash) "
        "VALUES (?, ?, ?, ?, ?, ?, ?)",
        [
            (
                row_id,
                gtin,
                serial,
                batch,
                allocated,
                at,
                serial_seal(row_id, gtin, serial, batch, allocated, at),
            )
            for row_id, serial in zip(ids, serials, strict=True)
        ],
    )
    append_history(conn, [(row_id, None, allocated, reason) for row_id in ids], at, actor)


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
