"""Dispatch: shipping a closed case or pallet with everything under it, and receiving it back.

A container is shipped while its newest ``shipments`` row (or one of an enclosing pallet's) is
``shipped``; no rework step may change it then (:func:`require_not_shipped`, checked by every
reopen, close and restack in :mod:`linectl.ledger.containers`). Only units QA released can ship; a
return (``receiving``) moves them from Released back to Commissioned, so they may then be
decommissioned or reworked. Each command is one transaction with its EPCIS event and audit row.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Sequence

from linectl.ledger import containers as rows_of
from linectl.ledger import workorders
from linectl.ledger.audit import append_audit, summarise
from linectl.ledger.connection import LedgerConnection, check_actor
from linectl.ledger.errors import ContainerError
from linectl.ledger.hierarchy import ContainerTree, tree
from linectl.ledger.models import Container, ContainerState, OutboxEvent, WorkOrder
from linectl.ledger.outbox import insert_events
from linectl.ledger.serials import apply_moves, check_moves
from linectl.ledger.serials import resolve as resolve_serials
from linectl.ledger.shipped import (
    RETURNED,
    SHIPPED,
    Shipment,
    history,
    latest_of,
    require_not_shipped,
    shipped_with,
)
from linectl.ledger.states import SerialState
from linectl.ledger.validation import check_text

EventFor = Callable[[ContainerTree, dict[str, WorkOrder]], OutboxEvent]
"""Builds the shipping or receiving event of a container tree (work orders by batch)."""


class Shipments:
    """``ledger.shipments``: ship and receive cases and pallets, and what was shipped."""

    def __init__(self, db: LedgerConnection) -> None:
        self._db = db

    def ship(
        self,
        sscc: str,
        *,
        source: str,
        destination: str,
        business_order: str | None,
        actor: str,
        reason: str,
        event_for: EventFor,
    ) -> Shipment:
        """Ship a closed case or pallet whose units QA released, with everything under it."""
        check_actor(actor)
        if business_order is not None:
            check_text(business_order, "order", max_len=100)
        with self._db.write() as conn:
            top = self._top(conn, sscc, "shipping")
            node = tree(conn, sscc)
            held = [u for t in node.walk() for u in t.units]
            if not held:
                raise ContainerError(f"{top.level.value} {sscc} holds no unit: nothing to ship")
            unreleased = [u for u in held if u.state is not SerialState.RELEASED]
            if unreleased:
                batches = sorted({u.batch for u in unreleased})
                raise ContainerError(
                    f"{len(unreleased)} of the {len(held)} units in {sscc} are not Released "
                    f"(e.g. {unreleased[0].serial}, {unreleased[0].state.label}; batch "
                    f"{', '.join(batches)}): only what QA released ships"
                )
            return self._record(conn, node, SHIPPED, source, destination, business_order,
                                actor, reason, event_for, returning=False)  # fmt: skip

    def receive(
        self,
        sscc: str,
        *,
        source: str,
        destination: str,
        actor: str,
        reason: str,
        event_for: EventFor,
    ) -> Shipment:
        """A shipped case or pallet came back: its units Released -> Commissioned."""
        check_actor(actor)
        with self._db.write() as conn:
            rows_of.get(conn, sscc)
            latest = latest_of(conn, sscc)
            if latest is None or latest.kind != SHIPPED:
                raise ContainerError(
                    f"container {sscc} was not shipped (as a whole): nothing to receive"
                )
            node = tree(conn, sscc)
            return self._record(conn, node, RETURNED, source, destination, latest.business_order,
                                actor, reason, event_for, returning=True)  # fmt: skip

    def latest(self, sscc: str) -> Shipment | None:
        with self._db.read() as conn:
            return shipped_with(conn, sscc)

    def history(self, ssccs: Sequence[str]) -> list[Shipment]:
        with self._db.read() as conn:
            return history(conn, ssccs)

    # -- internals -------------------------------------------------------------------------------

    @staticmethod
    def _top(conn: sqlite3.Connection, sscc: str, doing: str) -> Container:
        container = rows_of.get(conn, sscc)
        if container.state is not ContainerState.CLOSED:
            raise ContainerError(
                f"{container.level.value} {sscc} is {container.state.value}: close it first"
            )
        if container.parent is not None:
            raise ContainerError(
                f"{container.level.value} {sscc} is on pallet {container.parent}: ship the "
                "pallet, or take the case off it first"
            )
        require_not_shipped(conn, sscc, doing)
        return container

    def _record(
        self,
        conn: sqlite3.Connection,
        node: ContainerTree,
        kind: str,
        source: str,
        destination: str,
        business_order: str | None,
        actor: str,
        reason: str,
        event_for: EventFor,
        *,
        returning: bool,
    ) -> Shipment:
        at = self._db.now()
        sscc = node.container.sscc
        held = [u for t in node.walk() for u in t.units]
        batches = sorted({u.batch for u in held} | {t.container.batch for t in node.walk()
                                                        if t.container.batch})  # fmt: skip
        orders = {b: workorders.get(conn, b) for b in batches}
        event = event_for(node, orders)
        gtins = sorted({u.gtin for u in held})
        rows = []
        for gtin in gtins:
            rows += resolve_serials(conn, [u.serial for u in held if u.gtin == gtin], gtin)
        if returning:
            moves = [(r, SerialState.COMMISSIONED, reason or "returned") for r in rows
                     if r.state is SerialState.RELEASED]  # fmt: skip
            check_moves((r, to) for r, to, _ in moves)
            apply_moves(conn, moves, at=at, actor=actor)
        insert_events(
            conn,
            [event],
            at=at,
            command_serial_ids=[r.id for r in rows],
            default_batch=node.container.batch,
            gtin=gtins[0] if len(gtins) == 1 else None,
        )
        cursor = conn.execute(
            "INSERT INTO shipments (sscc, kind, source, destination, business_order, event_id, "
            "at, actor) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (sscc, kind, source, destination, business_order, event.event_id, at, actor),
        )
        append_audit(
            conn,
            at=at,
            actor=actor,
            command="containers.ship" if kind == SHIPPED else "containers.receive",
            reason=reason,
            before=None,
            after={
                "sscc": sscc,
                "source": source,
                "destination": destination,
                "order": business_order,
                "units": summarise([u.serial for u in held]),
                "event": event.event_id,
                **({"batch": batches[0]} if len(batches) == 1 else {"batches": batches}),
            },
        )
        return Shipment(int(cursor.lastrowid or 0), sscc, kind, source, destination,
                        business_order, event.event_id, at, actor)  # fmt: skip
