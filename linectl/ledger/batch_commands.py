"""Commands on a whole batch after (or beside) production: QA release and material lot changes.

Each is one ``BEGIN IMMEDIATE`` transaction with its audit row; the release also moves the
batch's commissioned units to Released, queues their EPCIS events and records the signature
that the caller writes through ``sign`` in the same transaction, so a release is never without
its signature nor a signature without its release.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import TypeVar

from linectl.ledger import workorders
from linectl.ledger.audit import append_audit, audit_head
from linectl.ledger.batch_record import (
    AlarmRecord,
    MaterialChange,
    MaterialSpan,
    Minute,
    RecordEntry,
    batch_alarms,
    batch_window,
    line_states,
    material_changes,
    material_spans,
    per_minute,
    reject_counts,
    rework,
    rework_signed,
    samples,
)
from linectl.ledger.connection import LedgerConnection, check_actor
from linectl.ledger.errors import ValidationError, WorkOrderStateError
from linectl.ledger.identity_rows import IdentityRows, SignatureRow
from linectl.ledger.models import OutboxEvent, WorkOrder, WorkOrderStatus
from linectl.ledger.outbox import insert_events
from linectl.ledger.reconcile import Reconciliation, reconcile_batch
from linectl.ledger.seals import history_head
from linectl.ledger.serials import _row, apply_moves, check_moves
from linectl.ledger.shipped import Shipment
from linectl.ledger.shipped import of_batch as shipments_of
from linectl.ledger.states import SerialState
from linectl.ledger.validation import check_lot, check_text

T = TypeVar("T")

EventsFor = Callable[[WorkOrder, Sequence[str]], Sequence[OutboxEvent]]
"""Builds the EPCIS events of a release from the work order and the serials released."""


class ReleaseBlocked(WorkOrderStateError):
    """The batch cannot be released; ``reason`` names why (open, unbalanced, open-alarm)."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason
        self.message = message


@dataclass(frozen=True)
class BatchRecordData:
    """Everything the batch record shows, read from one snapshot of the ledger."""

    order: WorkOrder
    reconciliation: Reconciliation
    materials: list[MaterialSpan]
    states: list[tuple[str, str]]
    rejects: dict[str, int]
    minutes: list[Minute]
    alarms: list[AlarmRecord]
    samples_total: int
    samples: list[RecordEntry]
    rework: list[RecordEntry]
    signatures: list[SignatureRow]
    shipments: list[Shipment]
    audit_head: tuple[int, str] | None
    read_at: str


@dataclass(frozen=True)
class ReleaseResult:
    """What a release did: units moved to Released and the events queued (kind, event id)."""

    batch: str
    released: int
    events: tuple[tuple[str, str], ...]


def release_blocker(
    order: WorkOrder, reconciliation: Reconciliation, alarms: Sequence[AlarmRecord]
) -> ReleaseBlocked | None:
    """Why the batch cannot be released now, or None: it must be closed, balance, no open alarm."""
    batch = order.batch
    if order.status is not WorkOrderStatus.CLOSED:
        return ReleaseBlocked(
            "batch-open", f"batch {batch} is {order.status.value}: close it before its release"
        )
    if not reconciliation.balanced:
        return ReleaseBlocked(
            "not-balanced",
            f"batch {batch} does not reconcile: {'; '.join(reconciliation.problems)}",
        )
    still = [a for a in alarms if a.cleared_at is None]
    if still:
        named = ", ".join(f"{a.code} (since {a.raised_at}: {a.message})" for a in still)
        return ReleaseBlocked(
            "open-alarm",
            f"batch {batch} has {len(still)} open alarm(s): {named}; acknowledge them first",
        )
    return None


class BatchCommands:
    """``ledger.batches``: release and material changes, and the reads the release checks."""

    def __init__(self, db: LedgerConnection) -> None:
        self._db = db

    def alarms(self, batch: str) -> list[AlarmRecord]:
        """The alarms raised while the batch ran, with their clears (see ``batch_record``)."""
        with self._db.read() as conn:
            return batch_alarms(conn, batch)

    def blocker(self, batch: str) -> ReleaseBlocked | None:
        """Why ``batch`` cannot be released now (None: it can)."""
        with self._db.read() as conn:
            order = workorders.get(conn, batch)
            return release_blocker(order, reconcile_batch(conn, batch), batch_alarms(conn, batch))

    def release(
        self,
        batch: str,
        *,
        actor: str,
        reason: str,
        events_for: EventsFor,
        sign: Callable[[IdentityRows, Reconciliation], T],
    ) -> tuple[ReleaseResult, T]:
        """Commissioned -> Released for the whole batch, its events queued and ``sign`` called,
        in one transaction; refused (ReleaseBlocked) unless closed, balanced and alarm-free."""
        check_actor(actor)
        with self._db.write() as conn:
            order = workorders.get(conn, batch)
            reconciliation = reconcile_batch(conn, batch)
            blocked = release_blocker(order, reconciliation, batch_alarms(conn, batch))
            if blocked is not None:
                raise blocked
            rows = [
                _row(r)
                for r in conn.execute(
                    "SELECT id, gtin, serial, batch, state, updated_at, row_hash FROM serials "
                    "WHERE batch = ? AND state = ? ORDER BY id",
                    (batch, int(SerialState.COMMISSIONED)),
                )
            ]
            moves = [(row, SerialState.RELEASED, reason or "released by QA") for row in rows]
            check_moves((row, to) for row, to, _ in moves)
            serials = [row.serial for row in rows]
            events = list(events_for(order, serials)) if serials else []
            at = self._db.now()
            apply_moves(conn, moves, at=at, actor=actor)
            insert_events(
                conn,
                events,
                at=at,
                command_serial_ids=[row.id for row in rows],
                default_batch=batch,
                gtin=order.gtin,
            )
            append_audit(
                conn,
                at=at,
                actor=actor,
                command="work_order.release",
                reason=reason,
                before={"batch": batch, "status": order.status.value},
                after={
                    "batch": batch,
                    "released": len(rows),
                    "events": [e.event_id for e in events],
                },
            )
            signed = sign(IdentityRows(conn, at), reconciliation)
        result = ReleaseResult(batch, len(rows), tuple((e.kind, e.event_id) for e in events))
        return result, signed

    def change_material(
        self, batch: str, material: str, lot: str, *, actor: str, reason: str = ""
    ) -> MaterialChange:
        """Put a new lot of ``material`` on the line for a started (or created) batch.

        The work order's materials change with it, so every unit judged after this commits
        carries the new lot in its commissioning event.
        """
        check_actor(actor)
        check_text(material, "material", max_len=20)
        if material != material.strip():
            raise ValidationError("no outer spaces", field="material", value=material)
        check_lot(lot)
        with self._db.write() as conn:
            order = workorders.get(conn, batch)
            workorders.require_status(
                order, (WorkOrderStatus.CREATED, WorkOrderStatus.STARTED), "a material change"
            )
            previous = order.materials.get(material)
            if previous == lot:
                raise ValidationError(
                    f"batch {batch} already uses {material} lot {lot}", field="lot", value=lot
                )
            at = self._db.now()
            after = replace(order, materials=dict(order.materials) | {material: lot})
            workorders.store_materials(conn, order, after)
            mark, _ = history_head(conn)
            entry = append_audit(
                conn,
                at=at,
                actor=actor,
                command="work_order.material",
                reason=reason,
                before={"batch": batch, "materials": dict(order.materials)},
                after={"batch": batch, "material": material, "lot": lot, "previous": previous},
            )
            cursor = conn.execute(
                "INSERT INTO material_changes (batch, material, lot, previous, at, actor, "
                "history_mark, audit_id) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (batch, material, lot, previous, at, actor, mark, entry.id),
            )
            change_id = int(cursor.lastrowid or 0)
        return MaterialChange(change_id, batch, material, lot, previous, at, actor, mark)

    def record(self, batch: str) -> BatchRecordData:
        """The batch record's data, read on a connection of its own (a batch of a million units
        takes seconds to read; the line keeps writing meanwhile)."""
        with self._db.snapshot() as conn:
            order = workorders.get(conn, batch)
            start, _ = batch_window(conn, batch)
            rows = IdentityRows(conn, self._db.now())
            reworked = [s for s in rows.signatures("rework") if start and s.audit_id > start]
            mine = set(rework_signed(conn, batch, [s.audit_id for s in reworked]))
            signatures = rows.signatures(None, batch) + [s for s in reworked if s.audit_id in mine]
            total, sampled = samples(conn, batch)
            return BatchRecordData(
                order=order,
                reconciliation=reconcile_batch(conn, batch),
                materials=material_spans(conn, batch, dict(order.materials)),
                states=line_states(conn, batch),
                rejects=reject_counts(conn, batch),
                minutes=per_minute(conn, batch),
                alarms=batch_alarms(conn, batch),
                samples_total=total,
                samples=sampled,
                rework=rework(conn, batch),
                signatures=sorted(signatures, key=lambda s: s.id),
                shipments=shipments_of(conn, batch),
                audit_head=audit_head(conn),
                read_at=self._db.now(),
            )

    def material_changes(self, batch: str) -> list[MaterialChange]:
        with self._db.read() as conn:
            workorders.get(conn, batch)
            return material_changes(conn, batch)
