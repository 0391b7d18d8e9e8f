"""Work orders (batches): rows, lookups and status changes inside the caller's transaction."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from typing import Any

from linectl.ledger.errors import (
    EncodedSerialsRemain,
    MaterialsChanged,
    UnknownWorkOrder,
    ValidationError,
    ValidationErrors,
    WorkOrderExists,
    WorkOrderStateError,
)
from linectl.ledger.models import WorkOrder, WorkOrderStatus
from linectl.ledger.seals import work_order_seal
from linectl.ledger.states import SerialState
from linectl.ledger.validation import (
    check_batch_id,
    check_expiry,
    check_gtin,
    check_lot,
    check_quantity,
    check_text,
)

_COLUMNS = (
    "batch, gtin, lot, expiry, quantity, target_market, materials, status, "
    "created_at, started_at, closed_at"
)


def seal(order: WorkOrder, materials: str | None = None) -> str:
    """The row seal of a work order; ``materials`` is the stored JSON text when known."""
    return work_order_seal(
        order.batch,
        order.gtin,
        order.lot,
        order.expiry,
        order.quantity,
        order.target_market,
        materials_json(order.materials) if materials is None else materials,
        order.status.value,
        order.created_at,
        order.started_at,
        order.closed_at,
    )


def _store_status(conn: sqlite3.Connection, before: WorkOrder, after: WorkOrder) -> WorkOrder:
    """Write ``after``'s status and times, resealed (kept stale if ``before``'s seal broke).

    A row whose stored seal does not match what was read was edited behind linectl's back: it
    keeps its stale seal, so verification still shows it, rather than being resealed clean.
    """
    stored, materials = conn.execute(
        "SELECT row_hash, materials FROM work_orders WHERE batch = ?", (before.batch,)
    ).fetchone()
    new_seal = seal(after, materials) if stored == seal(before, materials) else stored
    conn.execute(
        "UPDATE work_orders SET status = ?, started_at = ?, closed_at = ?, row_hash = ? "
        "WHERE batch = ?",
        (after.status.value, after.started_at, after.closed_at, new_seal, before.batch),
    )
    return after


def store_materials(conn: sqlite3.Connection, before: WorkOrder, after: WorkOrder) -> WorkOrder:
    """Write ``after``'s materials, resealed (kept stale if ``before``'s seal broke)."""
    stored, materials = conn.execute(
        "SELECT row_hash, materials FROM work_orders WHERE batch = ?", (before.batch,)
    ).fetchone()
    text = materials_json(after.materials)
    new_seal = seal(after, text) if stored == seal(before, materials) else stored
    conn.execute(
        "UPDATE work_orders SET materials = ?, row_hash = ? WHERE batch = ?",
        (text, new_seal, before.batch),
    )
    return after


def require_materials(conn: sqlite3.Connection, batch: str, materials: Mapping[str, str]) -> None:
    """Refuse (MaterialsChanged, with the current lots) unless ``batch`` uses ``materials``."""
    current = dict(get(conn, batch).materials)
    if current != dict(materials):
        raise MaterialsChanged(batch, current)


def materials_json(materials: Mapping[str, str] | None) -> str:
    """Packaging-material lots ({"carton": "C-118", "leaflet": "L-9"}) as canonical JSON."""
    materials = dict(materials or {})
    for kind, lot in materials.items():
        if not isinstance(kind, str) or not kind.strip():
            raise ValidationError(
                "material kind must be a non-empty string", field="materials", value=kind
            )
        if not isinstance(lot, str) or not lot.strip():
            raise ValidationError(
                f"lot of material {kind!r} must be a non-empty string", field="materials", value=lot
            )
    return json.dumps(materials, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def checked_fields(
    *,
    batch: str,
    gtin: str,
    lot: str,
    expiry: str,
    quantity: int,
    target_market: str,
    materials: Mapping[str, str] | None,
) -> dict[str, Any]:
    """The fields of a new work order, each validated (GTIN check digit, lot AI 10, YYMMDD).

    Every field is checked; when several are wrong, one error lists them all.
    """
    checks: list[tuple[str, Callable[[], object]]] = [
        ("batch", lambda: check_batch_id(batch)),
        ("gtin", lambda: check_gtin(gtin)),
        ("lot", lambda: check_lot(lot)),
        ("expiry", lambda: check_expiry(expiry)),
        ("quantity", lambda: check_quantity(quantity)),
        ("target_market", lambda: check_text(target_market, "target_market", max_len=64)),
        ("materials", lambda: (materials_json(materials), dict(materials or {}))[1]),
    ]
    fields: dict[str, Any] = {}
    problems: list[ValidationError] = []
    for name, check in checks:
        try:
            fields[name] = check()
        except ValidationError as exc:
            problems.append(exc)
    if len(problems) == 1:
        raise problems[0]
    if problems:
        raise ValidationErrors(problems)
    return fields


def summary(order: WorkOrder) -> dict[str, object]:
    """A work order's fields for the audit trail."""
    return {
        "batch": order.batch,
        "gtin": order.gtin,
        "lot": order.lot,
        "expiry": order.expiry,
        "quantity": order.quantity,
        "target_market": order.target_market,
        "materials": dict(order.materials),
        "status": order.status.value,
    }


def insert(conn: sqlite3.Connection, order: WorkOrder) -> None:
    """Store a new work order; the batch id must be unused."""
    if conn.execute("SELECT 1 FROM work_orders WHERE batch = ?", (order.batch,)).fetchone():
        raise WorkOrderExists(f"a work order for batch {order.batch!r} exists already")
    conn.execute(
        f"INSERT INTO work_orders ({_COLUMNS}, row_hash) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (
            order.batch,
            order.gtin,
            order.lot,
            order.expiry,
            order.quantity,
            order.target_market,
            materials_json(order.materials),
            order.status.value,
            order.created_at,
            order.started_at,
            order.closed_at,
            seal(order),
        ),
    )


def get(conn: sqlite3.Connection, batch: str) -> WorkOrder:
    """The work order for ``batch``, or UnknownWorkOrder."""
    row = conn.execute(f"SELECT {_COLUMNS} FROM work_orders WHERE batch = ?", (batch,)).fetchone()
    if row is None:
        raise UnknownWorkOrder(batch)
    return _order(row)


def find(conn: sqlite3.Connection, status: WorkOrderStatus | None) -> list[WorkOrder]:
    """All work orders (optionally of one status), oldest first."""
    if status is None:
        rows = conn.execute(f"SELECT {_COLUMNS} FROM work_orders ORDER BY created_at, batch")
    else:
        rows = conn.execute(
            f"SELECT {_COLUMNS} FROM work_orders WHERE status = ? ORDER BY created_at, batch",
            (status.value,),
        )
    return [_order(row) for row in rows]


def start(conn: sqlite3.Connection, batch: str, at: str) -> WorkOrder:
    """created -> started."""
    order = get(conn, batch)
    if order.status is not WorkOrderStatus.CREATED:
        raise WorkOrderStateError(
            f"batch {batch!r} is {order.status.value}; only a created batch starts"
        )
    return _store_status(conn, order, replace(order, status=WorkOrderStatus.STARTED, started_at=at))


def close(conn: sqlite3.Connection, batch: str, at: str) -> WorkOrder:
    """created|started -> closed, refused while any serial of the batch is still Encoded."""
    order = get(conn, batch)
    if order.status is WorkOrderStatus.CLOSED:
        raise WorkOrderStateError(f"batch {batch!r} is closed already")
    count = conn.execute(
        "SELECT count(*) FROM serials WHERE batch = ? AND state = ?",
        (batch, int(SerialState.ENCODED)),
    ).fetchone()[0]
    if count:
        examples = conn.execute(
            "SELECT serial FROM serials WHERE batch = ? AND state = ? ORDER BY id LIMIT 5",
            (batch, int(SerialState.ENCODED)),
        ).fetchall()
        raise EncodedSerialsRemain(batch, int(count), [str(r[0]) for r in examples])
    return _store_status(conn, order, replace(order, status=WorkOrderStatus.CLOSED, closed_at=at))


def require_status(order: WorkOrder, allowed: Sequence[WorkOrderStatus], doing: str) -> None:
    """Refuse ``doing`` unless the work order is in one of ``allowed``."""
    if order.status not in allowed:
        wanted = " or ".join(s.value for s in allowed)
        raise WorkOrderStateError(
            f"batch {order.batch!r} is {order.status.value}; {doing} needs it {wanted}"
        )


def _order(row: tuple[Any, ...]) -> WorkOrder:
    batch, gtin, lot, expiry, qty, market, materials, status, created, started, closed = row
    return WorkOrder(
        batch=str(batch),
        gtin=str(gtin),
        lot=str(lot),
        expiry=str(expiry),
        quantity=int(qty),
        target_market=str(market),
        materials=json.loads(str(materials)),
        status=WorkOrderStatus(status),
        created_at=str(created),
        started_at=None if started is None else str(started),
        closed_at=None if closed is None else str(closed),
    )
