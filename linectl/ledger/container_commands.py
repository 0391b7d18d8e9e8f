"""Cases and pallets as a Ledger exposes them (``ledger.containers``): audited single steps,
composite transactions (:class:`~linectl.ledger.aggregation.AggregationTx`) and read queries.

The row functions live in ``linectl.ledger.containers`` and the composite steps in
``linectl.ledger.aggregation``; this module sits above both, so neither imports the other's user.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Concatenate, ParamSpec, TypeVar

from linectl.ledger import containers as rows_of
from linectl.ledger.aggregation import AggregationTx
from linectl.ledger.audit import summarise
from linectl.ledger.connection import LedgerConnection, check_actor
from linectl.ledger.errors import UnknownWorkOrder
from linectl.ledger.models import (
    Container,
    ContainerContents,
    ContainerLevel,
    ContainerState,
    OutboxEvent,
)
from linectl.ledger.serials import SerialRow, resolve
from linectl.ledger.validation import check_sscc

P = ParamSpec("P")
T = TypeVar("T")


class Containers:
    """Cases and pallets of a Ledger (``ledger.containers``); every change is audited.

    ``events`` on a command are queued in the outbox in the same transaction (e.g. the SSCC's
    commissioning with ``create``, an AggregationEvent with ``pack``).
    """

    def __init__(self, db: LedgerConnection) -> None:
        self._db = db

    def create(
        self,
        sscc: str,
        level: ContainerLevel | str,
        *,
        actor: str,
        batch: str | None = None,
        reason: str = "",
        events: Sequence[OutboxEvent] = (),
    ) -> Container:
        """A new open case or pallet with a valid, unused SSCC."""
        check_actor(actor)
        sscc, level = check_sscc(sscc), ContainerLevel(level)
        with self._db.write() as conn:
            at = self._db.now()
            if (
                batch is not None
                and not conn.execute(
                    "SELECT 1 FROM work_orders WHERE batch = ?", (batch,)
                ).fetchone()
            ):
                raise UnknownWorkOrder(batch)
            container = rows_of.insert(conn, sscc, level, batch, at)
            self._finish(conn, at, actor, "containers.create", reason, None, container, events, [])
        return container

    def close(
        self, sscc: str, *, actor: str, reason: str = "", events: Sequence[OutboxEvent] = ()
    ) -> Container:
        """open|reopened -> closed."""
        return self._set_state(sscc, ContainerState.CLOSED, actor, reason, events)

    def reopen(
        self, sscc: str, *, actor: str, reason: str, events: Sequence[OutboxEvent] = ()
    ) -> Container:
        """closed -> reopened (say why: rework, a damaged pack replaced...)."""
        return self._set_state(sscc, ContainerState.REOPENED, actor, reason, events)

    def _set_state(
        self,
        sscc: str,
        to: ContainerState,
        actor: str,
        reason: str,
        events: Sequence[OutboxEvent],
    ) -> Container:
        check_actor(actor)
        with self._db.write() as conn:
            at = self._db.now()
            before, after = rows_of.set_state(conn, sscc, to, at)
            command = f"containers.{'close' if to is ContainerState.CLOSED else 'reopen'}"
            self._finish(conn, at, actor, command, reason, before, after, events, [])
        return after

    def set_parent(
        self,
        child: str,
        parent: str | None,
        *,
        actor: str,
        reason: str = "",
        events: Sequence[OutboxEvent] = (),
    ) -> Container:
        """Put a case on a pallet, or take it off with ``parent=None``."""
        check_actor(actor)
        with self._db.write() as conn:
            at = self._db.now()
            before = rows_of.get(conn, child)
            after = rows_of.set_parent(conn, child, parent, at)
            self._finish(
                conn, at, actor, "containers.set_parent", reason, before, after, events, []
            )
        return after

    def pack(
        self,
        sscc: str,
        serials: Sequence[str],
        *,
        actor: str,
        gtin: str | None = None,
        reason: str = "",
        events: Sequence[OutboxEvent] = (),
    ) -> int:
        """Put Commissioned units into the container (all or none); return how many."""
        return self._move(sscc, serials, actor, gtin, reason, events, packing=True)

    def unpack(
        self,
        sscc: str,
        serials: Sequence[str],
        *,
        actor: str,
        reason: str,
        gtin: str | None = None,
        events: Sequence[OutboxEvent] = (),
    ) -> int:
        """Take units out of the container (all or none); return how many."""
        return self._move(sscc, serials, actor, gtin, reason, events, packing=False)

    def _move(
        self,
        sscc: str,
        serials: Sequence[str],
        actor: str,
        gtin: str | None,
        reason: str,
        events: Sequence[OutboxEvent],
        *,
        packing: bool,
    ) -> int:
        check_actor(actor)
        with self._db.write() as conn:
            at = self._db.now()
            rows = resolve(conn, serials, gtin)
            (rows_of.pack if packing else rows_of.unpack)(conn, sscc, rows, at)
            holder = rows_of.get(conn, sscc)
            change = {"sscc": sscc, "units": summarise([r.serial for r in rows])}
            command = "containers.pack" if packing else "containers.unpack"
            self._finish(conn, at, actor, command, reason, None, change, events, rows, holder.batch)
        return len(rows)

    def get(self, sscc: str) -> Container:
        """The container with this SSCC (ContainerError when there is none)."""
        with self._db.read() as conn:
            return rows_of.get(conn, sscc)

    def find(
        self, *, batch: str | None = None, level: ContainerLevel | None = None
    ) -> list[Container]:
        """Containers, optionally of one batch and/or level."""
        with self._db.read() as conn:
            return rows_of.find(conn, batch=batch, level=level)

    def contents(self, sscc: str) -> ContainerContents:
        """Unit serials and child containers packed directly in ``sscc``."""
        with self._db.read() as conn:
            return rows_of.contents(conn, sscc)

    def _finish(
        self,
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
    ) -> None:
        rows_of.record(conn, at, actor, command, reason, before, after, events, rows, batch)

    @contextmanager
    def transaction(self) -> Iterator[AggregationTx]:
        """One write transaction for a composite aggregation command: all its steps or none."""
        with self._db.write() as conn:
            yield AggregationTx(conn, self._db.now())

    def read(
        self,
        query: Callable[Concatenate[sqlite3.Connection, P], T],
        *args: P.args,
        **kwargs: P.kwargs,
    ) -> T:
        """Run a read-only query (``linectl.ledger.hierarchy``) in one snapshot of the ledger.

        Not from inside ``transaction()``: there, use the transaction's own reads.
        """
        with self._db.read() as conn:
            return query(conn, *args, **kwargs)
