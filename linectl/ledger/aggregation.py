"""Composite container commands: several audited steps and their events in one transaction.

``ledger.containers.transaction()`` yields an :class:`AggregationTx` inside ``BEGIN IMMEDIATE``.
Each step checks, writes its rows (sealed as ``linectl.ledger.seals`` wants), queues the events
given to it in call order, and writes one audit row under the ledger's own command names
(``containers.create``, ``containers.pack``, ``containers.unpack``, ``containers.close``,
``containers.reopen``, ``containers.set_parent``, ``serials.transition``), so ``verify_audit``
and its cross-checks see exactly what the single-step commands would have written. Any
exception rolls back every step: closing a case is its state change and its packing event, or
nothing.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Collection, Sequence

from linectl.ledger import containers as rows_of
from linectl.ledger import hierarchy, outbox, workorders
from linectl.ledger.audit import append_audit, summarise
from linectl.ledger.connection import check_actor
from linectl.ledger.hierarchy import ContainerCount, UnitEntry
from linectl.ledger.models import (
    Container,
    ContainerContents,
    ContainerLevel,
    ContainerState,
    OutboxEvent,
    WorkOrder,
)
from linectl.ledger.outbox import insert_events
from linectl.ledger.serials import SerialRow, apply_moves, check_moves, count_states, resolve
from linectl.ledger.states import SerialState
from linectl.ledger.validation import check_sscc
from standards.gs1.epc import Identifier

_LEDGER_NAMESPACES = frozenset(
    {"work_order", "serials", "units", "containers", "outbox", "sscc_stock"}
)


class AggregationTx:
    """The steps of one composite command, in the caller's open write transaction."""

    def __init__(self, conn: sqlite3.Connection, at: str) -> None:
        self._conn = conn
        self.at = at

    # -- reads inside the transaction ----------------------------------------------------------

    def get(self, sscc: str) -> Container:
        """The container with this SSCC (ContainerError when there is none)."""
        return rows_of.get(self._conn, sscc)

    def resolve(self, serials: Sequence[str], gtin: str | None) -> list[SerialRow]:
        """The serials as stored (UnknownSerial, AmbiguousSerial, DuplicateSerial otherwise)."""
        return resolve(self._conn, list(serials), gtin)

    def unit_container(self, row: SerialRow) -> str | None:
        """The container a unit is packed in (None: not packed, or never judged)."""
        found = self._conn.execute(
            "SELECT container FROM units WHERE serial_id = ?", (row.id,)
        ).fetchone()
        return None if found is None or found[0] is None else str(found[0])

    def unit_count(self, sscc: str) -> int:
        """Units packed directly in the container."""
        (count,) = self._conn.execute(
            "SELECT count(*) FROM units WHERE container = ?", (sscc,)
        ).fetchone()
        return int(count)

    def contents(self, sscc: str) -> ContainerContents:
        """Unit serials and child containers (in SSCC order) packed directly in ``sscc``."""
        return rows_of.contents(self._conn, sscc)

    def cases_on(self, pallet: str) -> int:
        """Cases on the pallet (containers whose parent it is)."""
        return hierarchy.fill_counts(self._conn, None, pallet)[1]

    def count(self, sscc: str) -> ContainerCount:
        """A container's counts: its units (through its cases for a pallet) and its cases."""
        return hierarchy.count(self._conn, sscc)

    def units_in(self, sscc: str) -> list[UnitEntry]:
        """Units packed directly in ``sscc``, in the order their serials arrived."""
        return hierarchy.units_in(self._conn, sscc)

    def announced_children(self, parent_ids: Collection[str]) -> set[Identifier]:
        """Children that queued events put into a container (named by ``parent_ids``)."""
        return hierarchy.announced_children(self._conn, parent_ids)

    def orphans(self, batch: str) -> list[str]:
        """Commissioned units of the batch packed in no container, in the order they arrived."""
        return hierarchy.orphans(self._conn, batch)

    def work_order(self, batch: str) -> WorkOrder:
        """The batch's work order (UnknownWorkOrder when there is none)."""
        return workorders.get(self._conn, batch)

    def outbox_mark(self) -> int:
        """A mark in the outbox: :meth:`queued_since` lists the events queued after it."""
        return outbox.last_id(self._conn)

    def queued_since(self, mark: int) -> list[tuple[str, str]]:
        """(kind, event_id) of every event queued after ``mark``, in queue order."""
        return outbox.queued_after(self._conn, mark)

    # -- steps ---------------------------------------------------------------------------------

    def create(
        self,
        sscc: str,
        level: ContainerLevel,
        *,
        batch: str,
        actor: str,
        reason: str,
        events: Sequence[OutboxEvent] = (),
    ) -> Container:
        """A new open container (its SSCC's commissioning event goes in ``events``)."""
        check_actor(actor)
        sscc = check_sscc(sscc)
        workorders.get(self._conn, batch)
        container = rows_of.insert(self._conn, sscc, level, batch, self.at)
        self._record(actor, "containers.create", reason, None, container, events, ())
        return container

    def pack(
        self,
        sscc: str,
        units: Sequence[SerialRow],
        *,
        actor: str,
        reason: str,
        events: Sequence[OutboxEvent] = (),
    ) -> None:
        """Put Commissioned units into a packable container."""
        self._move(sscc, units, actor, reason, events, packing=True)

    def unpack(
        self,
        sscc: str,
        units: Sequence[SerialRow],
        *,
        actor: str,
        reason: str,
        events: Sequence[OutboxEvent] = (),
    ) -> None:
        """Take units out of a packable container."""
        self._move(sscc, units, actor, reason, events, packing=False)

    def close(
        self,
        sscc: str,
        *,
        actor: str,
        reason: str,
        events: Sequence[OutboxEvent] = (),
        gtin: str | None = None,
    ) -> Container:
        """open|reopened -> closed, with the events that record what it now holds.

        ``gtin`` resolves the serials the events name (needed when a serial exists under
        several GTINs).
        """
        return self._set_state(sscc, ContainerState.CLOSED, actor, reason, events, gtin)

    def reopen(
        self, sscc: str, *, actor: str, reason: str, events: Sequence[OutboxEvent] = ()
    ) -> Container:
        """closed -> reopened."""
        return self._set_state(sscc, ContainerState.REOPENED, actor, reason, events, None)

    def set_parent(
        self,
        child: str,
        parent: str | None,
        *,
        actor: str,
        reason: str,
        events: Sequence[OutboxEvent] = (),
    ) -> Container:
        """Put a case on a pallet, or take it off with ``parent=None``."""
        check_actor(actor)
        before = rows_of.get(self._conn, child)
        after = rows_of.set_parent(self._conn, child, parent, self.at)
        self._record(actor, "containers.set_parent", reason, before, after, events, ())
        return after

    def move(
        self,
        units: Sequence[SerialRow],
        to_state: SerialState,
        *,
        actor: str,
        reason: str,
        gtin: str,
        events: Sequence[OutboxEvent] = (),
    ) -> None:
        """Move serials to ``to_state`` (checked against the legal transitions) with events."""
        check_actor(actor)
        check_moves((row, to_state) for row in units)
        apply_moves(self._conn, [(row, to_state, reason) for row in units], at=self.at, actor=actor)
        batches = sorted({row.batch for row in units})
        insert_events(
            self._conn,
            events,
            at=self.at,
            command_serial_ids=[row.id for row in units],
            default_batch=batches[0] if len(batches) == 1 else None,
            gtin=gtin,
        )
        append_audit(
            self._conn,
            at=self.at,
            actor=actor,
            command="serials.transition",
            reason=reason,
            before={"states": count_states(row.state for row in units), "batches": batches},
            after={
                "states": count_states(to_state for _ in units),
                "serials": summarise([row.serial for row in units]),
                "events": summarise([e.event_id for e in events], "event_ids"),
            },
        )

    def note(self, actor: str, command: str, reason: str, after: object) -> None:
        """An audit row for something that changes no ledger table (a label verification).

        ``command`` must be outside the ledger's namespaces, as for ``Ledger.record_event``.
        """
        check_actor(actor)
        if command.split(".", 1)[0] in _LEDGER_NAMESPACES:
            raise ValueError(f"{command!r} is a ledger command name")
        append_audit(
            self._conn,
            at=self.at,
            actor=actor,
            command=command,
            reason=reason,
            before=None,
            after=after,
        )

    # -- internals -----------------------------------------------------------------------------

    def _move(
        self,
        sscc: str,
        units: Sequence[SerialRow],
        actor: str,
        reason: str,
        events: Sequence[OutboxEvent],
        *,
        packing: bool,
    ) -> None:
        check_actor(actor)
        holder = (rows_of.pack if packing else rows_of.unpack)(self._conn, sscc, units, self.at)
        change = {"sscc": sscc, "units": summarise([r.serial for r in units])}
        command = "containers.pack" if packing else "containers.unpack"
        self._record(actor, command, reason, None, change, events, units, holder.batch)

    def _set_state(
        self,
        sscc: str,
        to: ContainerState,
        actor: str,
        reason: str,
        events: Sequence[OutboxEvent],
        gtin: str | None,
    ) -> Container:
        check_actor(actor)
        before, after = rows_of.set_state(self._conn, sscc, to, self.at)
        command = f"containers.{'close' if to is ContainerState.CLOSED else 'reopen'}"
        self._record(actor, command, reason, before, after, events, (), gtin=gtin)
        return after

    def _record(
        self,
        actor: str,
        command: str,
        reason: str,
        before: object,
        after: object,
        events: Sequence[OutboxEvent],
        units: Sequence[SerialRow],
        batch: str | None = None,
        *,
        gtin: str | None = None,
    ) -> None:
        gtins = {row.gtin for row in units}
        if gtin is None and len(gtins) == 1:
            gtin = gtins.pop()
        rows_of.record(
            self._conn, self.at, actor, command, reason, before, after, events, units, batch, gtin
        )
