"""Cases and pallets (SSCC): open -> closed -> (reopened -> closed)*, their parents and contents.

The row functions of the containers table. Functions that write expect the caller's
``BEGIN IMMEDIATE`` transaction. The single-step commands (``Containers`` in
``linectl.ledger.container_commands``) and the composite steps (``linectl.ledger.aggregation``)
are built on them; the queries behind trace, contents and recall live in
``linectl.ledger.hierarchy``.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from dataclasses import replace
from typing import Any

from linectl.ledger.audit import append_audit, summarise
from linectl.ledger.errors import ContainerError
from linectl.ledger.models import (
    Container,
    ContainerContents,
    ContainerLevel,
    ContainerState,
    OutboxEvent,
)
from linectl.ledger.outbox import insert_events
from linectl.ledger.seals import container_seal, unit_seal
from linectl.ledger.serials import SerialRow
from linectl.ledger.shipped import require_not_shipped
from linectl.ledger.states import SerialState

_COLUMNS = "sscc, level, state, batch, parent, created_at, updated_at"

PACKABLE = frozenset({ContainerState.OPEN, ContainerState.REOPENED})
"""States in which a container accepts or gives up contents."""


def get(conn: sqlite3.Connection, sscc: str) -> Container:
    """The container with this SSCC, or ContainerError."""
    return _sealed(conn, sscc)[0]


def _sealed(conn: sqlite3.Connection, sscc: str) -> tuple[Container, object]:
    """The container with this SSCC and its stored seal (to write it back), or ContainerError."""
    row = conn.execute(
        f"SELECT {_COLUMNS}, row_hash FROM containers WHERE sscc = ?", (sscc,)
    ).fetchone()
    if row is None:
        raise ContainerError(f"no container with SSCC {sscc}")
    return _container(row[:-1]), row[-1]


def seal(container: Container) -> str:
    """The row seal of a container as stored."""
    return container_seal(
        container.sscc,
        container.level.value,
        container.state.value,
        container.batch,
        container.parent,
        container.created_at,
        container.updated_at,
    )


def _store(
    conn: sqlite3.Connection, before: Container, stored: object, after: Container
) -> Container:
    """Write ``after`` over ``before`` (read with its ``stored`` seal, by ``_sealed``, in this
    transaction) with its new seal (the stale one if ``before``'s broke).

    A row whose stored seal does not match what was read was edited behind linectl's back: it
    keeps its stale seal, so verification still shows it, rather than being resealed clean.
    """
    new_seal = seal(after) if stored == seal(before) else stored
    conn.execute(
        "UPDATE containers SET state = ?, parent = ?, updated_at = ?, row_hash = ? WHERE sscc = ?",
        (after.state.value, after.parent, after.updated_at, new_seal, before.sscc),
    )
    return after


def find(
    conn: sqlite3.Connection, *, batch: str | None, level: ContainerLevel | None
) -> list[Container]:
    """Containers, optionally of one batch and/or level, in SSCC order."""
    where, params = [], []
    if batch is not None:
        where.append("batch = ?")
        params.append(batch)
    if level is not None:
        where.append("level = ?")
        params.append(level.value)
    clause = f" WHERE {' AND '.join(where)}" if where else ""
    rows = conn.execute(f"SELECT {_COLUMNS} FROM containers{clause} ORDER BY sscc", params)
    return [_container(row) for row in rows]


def insert(
    conn: sqlite3.Connection, sscc: str, level: ContainerLevel, batch: str | None, at: str
) -> Container:
    """Create an open container; refuses an SSCC used before."""
    if conn.execute("SELECT 1 FROM containers WHERE sscc = ?", (sscc,)).fetchone():
        raise ContainerError(f"SSCC {sscc} is already used by another container")
    container = Container(sscc, level, ContainerState.OPEN, batch, None, at, at)
    conn.execute(
        f"INSERT INTO containers ({_COLUMNS}, row_hash) VALUES (?, ?, ?, ?, NULL, ?, ?, ?)",
        (sscc, level.value, ContainerState.OPEN.value, batch, at, at, seal(container)),
    )
    return container


def set_state(
    conn: sqlite3.Connection, sscc: str, to: ContainerState, at: str
) -> tuple[Container, Container]:
    """Close (from open or reopened) or reopen (from closed); return (before, after).

    Refused for a container that left with a shipment (until it is received back)."""
    before, stored = _sealed(conn, sscc)
    require_not_shipped(conn, sscc, "closing" if to is ContainerState.CLOSED else "reopening")
    allowed = {
        ContainerState.CLOSED: PACKABLE,
        ContainerState.REOPENED: frozenset({ContainerState.CLOSED}),
    }.get(to, frozenset())
    if before.state not in allowed:
        raise ContainerError(f"container {sscc} is {before.state.value}; cannot go to {to.value}")
    return before, _store(conn, before, stored, replace(before, state=to, updated_at=at))


def set_parent(conn: sqlite3.Connection, child: str, parent: str | None, at: str) -> Container:
    """Put a case on a pallet (or take it off with ``parent=None``); both must be packable."""
    current, stored = _sealed(conn, child)
    require_not_shipped(conn, child, "moving it")
    require_not_shipped(conn, parent, "stacking onto it")
    if current.level is not ContainerLevel.CASE:
        raise ContainerError(
            f"container {child} is a {current.level.value}; only cases go on pallets"
        )
    for sscc in (current.parent, parent):
        if sscc is not None:
            holder = get(conn, sscc)
            if holder.state not in PACKABLE:
                raise ContainerError(f"pallet {sscc} is {holder.state.value}; reopen it first")
    if parent is not None:
        target = get(conn, parent)
        if target.level is not ContainerLevel.PALLET:
            raise ContainerError(f"container {parent} is a {target.level.value}, not a pallet")
        if current.parent is not None and current.parent != parent:
            raise ContainerError(f"case {child} is already on pallet {current.parent}")
    return _store(conn, current, stored, replace(current, parent=parent, updated_at=at))


_UNIT_COLUMNS = "seq, verdict, grade, reason, printed_at, verdict_at, container, row_hash"
_UNIT = f"SELECT {_UNIT_COLUMNS} FROM units WHERE serial_id = ?"


def _unit_reseal(serial_id: int, unit: tuple[Any, ...], container: str | None) -> str | None:
    """The unit's seal with ``container``; the stale one if its stored seal was broken."""
    seq, verdict, grade, reason, printed_at, verdict_at, current, stored = unit
    fields = (serial_id, seq, verdict, grade, reason, printed_at, verdict_at)
    if unit_seal(*fields, current) != stored:
        return None if stored is None else str(stored)
    return unit_seal(*fields, container)


def _units(conn: sqlite3.Connection, serial_ids: list[int]) -> dict[int, tuple[Any, ...]]:
    """serial id -> its unit row (as ``_UNIT`` selects it), a chunk of ids per query."""
    found: dict[int, tuple[Any, ...]] = {}
    for start in range(0, len(serial_ids), 500):
        chunk = serial_ids[start : start + 500]
        marks = ",".join("?" * len(chunk))
        sql = f"SELECT serial_id, {_UNIT_COLUMNS} FROM units WHERE serial_id IN ({marks})"
        for raw in conn.execute(sql, chunk):
            found[int(raw[0])] = tuple(raw[1:])
    return found


def pack(conn: sqlite3.Connection, sscc: str, rows: Sequence[SerialRow], at: str) -> Container:
    """Put commissioned units into a packable container; none may be packed elsewhere already.

    Returns the container as stored now."""
    holder, stored = _sealed(conn, sscc)
    if holder.state not in PACKABLE:
        raise ContainerError(f"container {sscc} is {holder.state.value}; reopen it first")
    updates: list[tuple[str, str | None, int]] = []
    units = _units(conn, [row.id for row in rows])
    for index, row in enumerate(rows):
        if row.state is not SerialState.COMMISSIONED:
            raise ContainerError(
                f"serial {row.serial!r} (index {index}) is {row.state.label}; only "
                "Commissioned units can be packed"
            )
        unit = units.get(row.id)
        if unit is None:
            raise ContainerError(f"serial {row.serial!r} (index {index}) has no unit record")
        if unit[6] is not None:
            raise ContainerError(f"serial {row.serial!r} (index {index}) is already in {unit[6]}")
        updates.append((sscc, _unit_reseal(row.id, unit, sscc), row.id))
    conn.executemany("UPDATE units SET container = ?, row_hash = ? WHERE serial_id = ?", updates)
    return _store(conn, holder, stored, replace(holder, updated_at=at))


def unpack(conn: sqlite3.Connection, sscc: str, rows: Sequence[SerialRow], at: str) -> Container:
    """Take units out of a packable container; each must be in it. Returns it as stored now."""
    holder, stored = _sealed(conn, sscc)
    if holder.state not in PACKABLE:
        raise ContainerError(f"container {sscc} is {holder.state.value}; reopen it first")
    updates: list[tuple[str | None, int]] = []
    for index, row in enumerate(rows):
        unit = conn.execute(_UNIT, (row.id,)).fetchone()
        if unit is None or unit[6] != sscc:
            raise ContainerError(f"serial {row.serial!r} (index {index}) is not in {sscc}")
        updates.append((_unit_reseal(row.id, unit, None), row.id))
    conn.executemany("UPDATE units SET container = NULL, row_hash = ? WHERE serial_id = ?", updates)
    return _store(conn, holder, stored, replace(holder, updated_at=at))


def contents(conn: sqlite3.Connection, sscc: str) -> ContainerContents:
    """Unit serials and child containers packed directly in ``sscc``."""
    get(conn, sscc)
    serials = conn.execute(
        "SELECT s.serial FROM units AS u JOIN serials AS s ON s.id = u.serial_id "
        "WHERE u.container = ? ORDER BY s.id",
        (sscc,),
    ).fetchall()
    children = conn.execute(
        "SELECT sscc FROM containers WHERE parent = ? ORDER BY sscc", (sscc,)
    ).fetchall()
    return ContainerContents(
        sscc, tuple(str(r[0]) for r in serials), tuple(str(r[0]) for r in children)
    )


def chain(conn: sqlite3.Connection, sscc: str | None) -> list[Container]:
    """The container and its parents, innermost first (stops on a cycle)."""
    result: list[Container] = []
    seen: set[str] = set()
    while sscc is not None and sscc not in seen:
        seen.add(sscc)
        container = get(conn, sscc)
        result.append(container)
        sscc = container.parent
    return result


_LEVELS = {level.value: level for level in ContainerLevel}
_STATES = {state.value: state for state in ContainerState}


def _container(row: tuple[Any, ...]) -> Container:
    sscc, level, state, batch, parent, created, updated = row
    return Container(
        sscc=str(sscc),
        level=_LEVELS.get(level) or ContainerLevel(level),
        state=_STATES.get(state) or ContainerState(state),
        batch=None if batch is None else str(batch),
        parent=None if parent is None else str(parent),
        created_at=str(created),
        updated_at=str(updated),
    )


def record(
    conn: sqlite3.Connection,
    at: str,
    actor: str,
    command: str,
    reason: str,
    before: object,
    after: object,
    events: Sequence[OutboxEvent],
    rows: Sequence[SerialRow],
    batch: str | None = None,
    gtin: str | None = None,
) -> None:
    """Queue a container command's events and write its audit row (in the open transaction)."""
    if isinstance(after, Container):
        batch = after.batch
    insert_events(
        conn,
        events,
        at=at,
        command_serial_ids=[r.id for r in rows],
        default_batch=batch,
        gtin=gtin,
    )
    append_audit(
        conn,
        at=at,
        actor=actor,
        command=command,
        reason=reason,
        before=_summary(before),
        after={
            "change": _summary(after),
            "events": summarise([e.event_id for e in events], "event_ids"),
        },
    )


def _summary(value: object) -> object:
    """A container as a small dict for the audit trail; anything else unchanged."""
    if isinstance(value, Container):
        return {
            "sscc": value.sscc,
            "level": value.level.value,
            "state": value.state.value,
            "parent": value.parent,
        }
    return value
