"""Whether a case or pallet has left with a shipment: the look-ups every container change makes.

Kept apart from :mod:`linectl.ledger.shipments` so that :mod:`linectl.ledger.containers` can
refuse to reopen or restack a shipped container without importing the dispatch commands.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass

from linectl.ledger.errors import ContainerError

SHIPPED = "shipped"
RETURNED = "returned"


@dataclass(frozen=True)
class Shipment:
    """One shipment or return of a container: from where to where, under which order."""

    id: int
    sscc: str
    kind: str  # shipped | returned
    source: str
    destination: str
    business_order: str | None
    event_id: str
    at: str
    actor: str


def latest_of(conn: sqlite3.Connection, sscc: str) -> Shipment | None:
    row = conn.execute(
        "SELECT id, sscc, kind, source, destination, business_order, event_id, at, actor "
        "FROM shipments WHERE sscc = ? ORDER BY id DESC LIMIT 1",
        (sscc,),
    ).fetchone()
    return None if row is None else _shipment(row)


def _shipment(row: Sequence[object]) -> Shipment:
    sid, sscc, kind, source, destination, order, event_id, at, actor = row
    return Shipment(
        int(str(sid)),
        str(sscc),
        str(kind),
        str(source),
        str(destination),
        None if order is None else str(order),
        str(event_id),
        str(at),
        str(actor),
    )


def shipped_with(conn: sqlite3.Connection, sscc: str | None) -> Shipment | None:
    """The shipment ``sscc`` left with (its own, or an enclosing pallet's), None if here."""
    seen: set[str] = set()
    while sscc is not None and sscc not in seen:
        seen.add(sscc)
        latest = latest_of(conn, sscc)
        if latest is not None and latest.kind == SHIPPED:
            return latest
        row = conn.execute("SELECT parent FROM containers WHERE sscc = ?", (sscc,)).fetchone()
        sscc = None if row is None or row[0] is None else str(row[0])
    return None


def require_not_shipped(conn: sqlite3.Connection, sscc: str | None, doing: str) -> None:
    """Refuse ``doing`` on a container that left with a shipment (its own or its pallet's)."""
    shipment = shipped_with(conn, sscc)
    if shipment is not None:
        under = "" if shipment.sscc == sscc else f" on {shipment.sscc}"
        raise ContainerError(
            f"container {sscc}{under} was shipped to {shipment.destination} at {shipment.at}: "
            f"{doing} is refused until it is received back (linectl receive)"
        )


def history(conn: sqlite3.Connection, ssccs: Sequence[str]) -> list[Shipment]:
    """Shipments and returns of these containers, oldest first."""
    if not ssccs:
        return []
    marks = ", ".join("?" for _ in ssccs)
    rows = conn.execute(
        "SELECT id, sscc, kind, source, destination, business_order, event_id, at, actor "
        f"FROM shipments WHERE sscc IN ({marks}) ORDER BY id",
        list(ssccs),
    )
    return [_shipment(r) for r in rows]


def of_batch(conn: sqlite3.Connection, batch: str) -> list[Shipment]:
    """Shipments and returns of the batch's cases and pallets, oldest first."""
    rows = conn.execute(
        "SELECT id, sscc, kind, source, destination, business_order, event_id, at, actor "
        "FROM shipments WHERE sscc IN (SELECT sscc FROM containers WHERE batch = ?) ORDER BY id",
        (batch,),
    )
    return [_shipment(r) for r in rows]
