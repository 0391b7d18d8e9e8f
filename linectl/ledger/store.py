"""The line's ledger: work orders, the serial pool and its states, units, reconciliation, audit.

One SQLite file (WAL, synchronous=FULL, foreign keys on, schema version in user_version).
Every state-changing command is one ``BEGIN IMMEDIATE`` transaction that also writes its audit
row and any outbox events it caused; a refused command (illegal transition, duplicate, bad
input) raises and changes nothing. Containers, the outbox, tags ... live in the attributes
set in ``__init__``. Thread safety: see ``linectl.ledger.connection`` (one connection per
Ledger, guarded by a lock; calls are serialised). The methods block on disk I/O: from
asyncio, call them through ``asyncio.to_thread``.
"""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Callable, Iterable, Mapping, Sequence

from linectl.ledger import containers as container_rows
from linectl.ledger import hierarchy, workorders
from linectl.ledger import outbox as outbox_rows
from linectl.ledger.audit import AuditEntry, AuditReport, append_audit, summarise
from linectl.ledger.audit import audit_entries as _audit_entries
from linectl.ledger.audit import audit_head as _audit_head
from linectl.ledger.audit import verify_audit as _verify_audit
from linectl.ledger.batch_commands import BatchCommands
from linectl.ledger.batch_record import reject_counts
from linectl.ledger.connection import Clock, LedgerConnection, check_actor, utc_now
from linectl.ledger.container_commands import Containers
from linectl.ledger.errors import ValidationError
from linectl.ledger.identity_rows import IdentityStore
from linectl.ledger.markings import Markings, WorkOrderCode, insert_code
from linectl.ledger.migrations import MIGRATIONS, Migration
from linectl.ledger.models import OutboxEvent, SerialTrace, UnitResult, WorkOrder, WorkOrderStatus
from linectl.ledger.nfc_tags import NfcTags
from linectl.ledger.outbox import Outbox, insert_events
from linectl.ledger.products import Products, check_order, has_products
from linectl.ledger.reconcile import Reconciliation, reconcile_batch
from linectl.ledger.seal_guard import Integrity, sealed_in_state
from linectl.ledger.serials import (
    SerialRow,
    apply_moves,
    batch_counts,
    check_moves,
    check_new,
    check_not_held,
    count_states,
    history,
    insert_allocated,
)
from linectl.ledger.serials import resolve as resolve_serials
from linectl.ledger.shipments import Shipments
from linectl.ledger.sscc_stock import SsccStock
from linectl.ledger.states import SerialState
from linectl.ledger.unit_tags import UnitTags
from linectl.ledger.units import insert_units, load_unit, verdict_moves
from linectl.ledger.validation import LineNote, check_gtin, check_line_event

_RUNNING = (WorkOrderStatus.STARTED,)
_OPEN = (WorkOrderStatus.CREATED, WorkOrderStatus.STARTED)


class Ledger:
    """The SQLite ledger of one packaging line (see the module docstring)."""

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        clock: Clock = utc_now,
        migrations: Sequence[Migration] = MIGRATIONS,
    ) -> None:
        self._db = LedgerConnection(path, clock=clock, migrations=migrations)
        self.path = self._db.path
        self.outbox = Outbox(self._db)
        self.containers = Containers(self._db)
        self.sscc_stock = SsccStock(self._db)
        self.integrity = Integrity(self._db)  # the start check and admin acknowledgements
        self.identity = IdentityStore(self._db)
        self.batches = BatchCommands(self._db)  # QA release, material changes
        self.shipments = Shipments(self._db)  # dispatch: ship and receive cases and pallets
        self.products = Products(self._db)  # product master data
        self.markings = Markings(self._db)  # a batch's code profile, a GTIN's serial space
        self.tags = UnitTags(self._db)  # RFID tags read on units: is an EPC on another unit?
        self.nfc = NfcTags(self._db)  # NFC tag UIDs per unit, imported from the supplier

    @property
    def schema_version(self) -> int:
        """Schema version of the file after opening (``PRAGMA user_version``)."""
        return self._db.schema_version

    @property
    def migrated_from(self) -> int:
        """Schema version the file had before this open applied migrations (0: new file)."""
        return self._db.migrated_from

    def settings(self) -> dict[str, str | int]:
        """Path, journal_mode, synchronous, foreign_keys, user_version, schema_version."""
        return self._db.settings()

    def close(self) -> None:
        """Close the file (safe twice)."""
        self._db.close()

    def __enter__(self) -> Ledger:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- work orders -----------------------------------------------------------------------------

    def create_work_order(
        self,
        *,
        batch: str,
        gtin: str,
        lot: str,
        expiry: str,
        quantity: int,
        target_market: str,
        actor: str,
        materials: Mapping[str, str] | None = None,
        reason: str = "",
        require_product: bool | None = None,
        code: WorkOrderCode | None = None,
    ) -> WorkOrder:
        """Record a new batch; validates the GTIN check digit, lot (AI 10) and expiry (YYMMDD);
        with ``require_product`` (None: once the ledger holds any product) the GTIN must be a
        product for ``target_market`` (UnknownProduct names the field otherwise); ``code``
        (from :func:`checked_code`): its market code profile and national numbers."""
        check_actor(actor)
        fields = workorders.checked_fields(
            batch=batch,
            gtin=gtin,
            lot=lot,
            expiry=expiry,
            quantity=quantity,
            target_market=target_market,
            materials=materials,
        )
        with self._db.write() as conn:
            at = self._db.now()
            if require_product or (require_product is None and has_products(conn)):
                check_order(conn, fields["gtin"], fields["target_market"])
            order = WorkOrder(
                **fields,
                status=WorkOrderStatus.CREATED,
                created_at=at,
                started_at=None,
                closed_at=None,
            )
            workorders.insert(conn, order)
            insert_code(conn, order.batch, code or WorkOrderCode())
            after = workorders.summary(order) | (code or WorkOrderCode()).summary()
            self._audit(conn, at, actor, "work_order.create", reason, None, after)
        return order

    def start_work_order(self, batch: str, *, actor: str, reason: str = "") -> WorkOrder:
        """created -> started: serials of the batch may now be encoded."""
        check_actor(actor)
        with self._db.write() as conn:
            at = self._db.now()
            order = workorders.start(conn, batch, at)
            before, after = {"batch": batch, "status": "created"}, workorders.summary(order)
            self._audit(conn, at, actor, "work_order.start", reason, before, after)
        return order

    def close_work_order(self, batch: str, *, actor: str, reason: str = "") -> WorkOrder:
        """created|started -> closed; refused (EncodedSerialsRemain) while serials are Encoded."""
        check_actor(actor)
        with self._db.write() as conn:
            at = self._db.now()
            before = {"batch": batch, "status": workorders.get(conn, batch).status.value}
            order = workorders.close(conn, batch, at)
            after = workorders.summary(order) | {"states": batch_counts(conn, batch)}
            self._audit(conn, at, actor, "work_order.close", reason, before, after)
        return order

    def get_work_order(self, batch: str) -> WorkOrder:
        """The work order of ``batch`` (UnknownWorkOrder if none)."""
        with self._db.read() as conn:
            return workorders.get(conn, batch)

    def list_work_orders(self, status: WorkOrderStatus | None = None) -> list[WorkOrder]:
        """All work orders, or those with ``status``, oldest first."""
        with self._db.read() as conn:
            return workorders.find(conn, status)

    # -- serials ---------------------------------------------------------------------------------

    def import_serials(
        self,
        batch: str,
        gtin: str,
        serials: Iterable[str],
        actor: str,
        reason: str = "received from upstream",
    ) -> int:
        """Add serials received from upstream to the batch as Allocated; all or nothing.

        Refuses serials that are not 1-20 characters of CSET 82, repeats within the input and
        serials the ledger already holds for this GTIN; errors name the index (and line).
        """
        check_actor(actor)
        gtin = check_gtin(gtin)
        if isinstance(serials, str):
            raise ValidationError(
                "expected a list of serials, got one string", field="serials", value=serials[:40]
            )
        items = check_new(list(serials))
        with self._db.write() as conn:
            order = workorders.get(conn, batch)
            workorders.require_status(order, _OPEN, "importing serials")
            if order.gtin != gtin:
                raise ValidationError(
                    f"batch {batch!r} packs GTIN {order.gtin}", field="gtin", value=gtin
                )
            check_not_held(conn, gtin, items)
            if not items:
                return 0
            at = self._db.now()
            before = {"states": batch_counts(conn, batch)}
            insert_allocated(
                conn, gtin=gtin, batch=batch, serials=items, at=at, actor=actor, reason=reason
            )
            after = {"states": batch_counts(conn, batch), "imported": summarise(items)}
            self._audit(conn, at, actor, "serials.import", reason, before, after)
        return len(items)

    def transition(
        self,
        serials: str | Sequence[str],
        to_state: SerialState,
        actor: str,
        reason: str,
        *,
        gtin: str | None = None,
        events: Sequence[OutboxEvent] = (),
        skip_done: bool = False,
    ) -> int:
        """Move serials to ``to_state`` and queue ``events``, all or none; return how many.

        Raises IllegalTransition (naming serial, from and to state) if any one move is illegal,
        UnknownSerial / AmbiguousSerial / DuplicateSerial for bad references; nothing changes then.
        Without ``gtin`` each serial must be unique across GTINs in the ledger. A single serial
        may be passed as a plain string. With ``skip_done`` serials already in ``to_state`` are
        left as they are (not counted), so settling the same serials twice is harmless.
        """
        check_actor(actor)
        if isinstance(serials, str):
            serials = [serials]
        to_state = SerialState(to_state)
        with self._db.write() as conn:
            rows = resolve_serials(conn, serials, gtin)
            if skip_done:
                rows = [row for row in rows if row.state is not to_state]
            if not rows:
                return 0
            check_moves((row, to_state) for row in rows)
            if to_state is SerialState.ENCODED:
                for batch in sorted({row.batch for row in rows}):
                    order = workorders.get(conn, batch)
                    workorders.require_status(order, _RUNNING, "encoding serials")
            self._apply(
                conn,
                rows,
                [(row, to_state, reason) for row in rows],
                actor,
                reason,
                "serials.transition",
                events,
                gtin,
            )
        return len(rows)

    def take_for_encoding(
        self,
        batch: str,
        n: int = 1,
        *,
        actor: str = "line",
        reason: str = "write-ahead before print",
        then: Callable[[list[str]], LineNote | None] | None = None,
    ) -> list[str]:
        """Durably move up to ``n`` Allocated serials of a started batch to Encoded, oldest first.

        One transaction whatever ``n``; it is committed (fsynced) before this returns, so a
        serial handed to the printer can never be handed out again. Returns fewer than ``n``
        (possibly none) when the pool runs short: the caller suspends rather than print unknowns.
        ``then(serials)`` may give a line event (as :meth:`record_event` takes) for the same
        transaction, such as which packs the serials are meant for.
        """
        check_actor(actor)
        if n < 1:
            raise ValidationError("must be at least 1", field="n", value=n)
        with self._db.write() as conn:
            workorders.require_status(workorders.get(conn, batch), _RUNNING, "encoding serials")
            rows = sealed_in_state(conn, batch, SerialState.ALLOCATED, n, where=self.path)
            if rows:
                moves = [(row, SerialState.ENCODED, reason) for row in rows]
                self._apply(conn, rows, moves, actor, reason, "serials.encode", (), None)
            note = then([row.serial for row in rows]) if then is not None else None
            if note is not None:
                check_line_event(note.command, note.reason)
                after = note.after
                self._audit(conn, self._db.now(), actor, note.command, note.reason, None, after)
        return [row.serial for row in rows]

    def record_units(
        self,
        units: Sequence[UnitResult],
        *,
        actor: str = "line",
        gtin: str | None = None,
        events: Sequence[OutboxEvent] = (),
        materials: Mapping[str, str] | None = None,
    ) -> None:
        """Record verdicts of Encoded serials: GOOD -> Commissioned, REJECT -> LabelScrapped.

        One transaction for the group with its outbox events; any illegal move or bad unit
        refuses the whole group. ``materials``: the material lots the events carry; if the
        batch's are no longer these, MaterialsChanged (with the current ones) and nothing changes.
        """
        check_actor(actor)
        if not units:
            return
        with self._db.write() as conn:
            rows = resolve_serials(conn, [u.serial for u in units], gtin)
            if materials is not None and rows:
                workorders.require_materials(conn, rows[0].batch, materials)
            moves = verdict_moves(units, rows)
            check_moves((row, to) for row, to, _ in moves)
            insert_units(conn, units, rows, self._db.now())
            tags = {"tags": n} if (n := sum(u.tag is not None for u in units)) else None
            self._apply(
                conn, rows, moves, actor, "unit verdicts", "units.record", events, gtin, tags
            )

    def list_serials(
        self, batch: str, state: SerialState | None = None, *, limit: int | None = None
    ) -> list[str]:
        """Serials of a batch (optionally in one state), in import order."""
        sql = "SELECT serial FROM serials WHERE batch = ?"
        params: list[object] = [batch]
        if state is not None:
            sql += " AND state = ?"
            params.append(int(state))
        sql += " ORDER BY id LIMIT ?"
        params.append(-1 if limit is None else limit)
        with self._db.read() as conn:
            workorders.get(conn, batch)
            return [str(r[0]) for r in conn.execute(sql, params)]

    def state_counts(self, batch: str) -> dict[SerialState, int]:
        """Number of serials of the batch in each state (states with none are left out)."""
        with self._db.read() as conn:
            workorders.get(conn, batch)
            rows = conn.execute(
                "SELECT state, count(*) FROM serials WHERE batch = ? GROUP BY state", (batch,)
            )
            return {SerialState(state): int(count) for state, count in rows}

    def trace(self, serial: str, *, gtin: str | None = None) -> SerialTrace:
        """Everything about one serial: states with times, unit, container chain, outbox events."""
        with self._db.read() as conn:
            (row,) = resolve_serials(conn, [serial], gtin)
            unit = load_unit(conn, row)
            return SerialTrace(
                gtin=row.gtin,
                serial=row.serial,
                batch=row.batch,
                state=row.state,
                history=tuple(history(conn, row.id)),
                unit=unit,
                containers=tuple(container_rows.chain(conn, unit.container if unit else None)),
                events=tuple(outbox_rows.for_serial(conn, row.id)),
            )

    # -- reconciliation and audit ----------------------------------------------------------------

    def reconcile(self, batch: str) -> Reconciliation:
        """Account for every serial the batch received (see ``linectl.ledger.reconcile``)."""
        with self._db.read() as conn:
            return reconcile_batch(conn, batch)

    def verify_audit(
        self, *, anchor: tuple[int, str] | None = None, key: bytes | None = None
    ) -> AuditReport:
        """Verify the whole ledger: audit chain, every row's seal, cross-checks between tables.

        The report names the first problem per table. O(rows); it reads a snapshot on its own
        connection, so it does not hold up the line (see ``linectl.ledger.integrity``).
        """
        with self._db.snapshot() as conn:
            return _verify_audit(conn, anchor=anchor, key=key)

    def audit_head(self) -> tuple[int, str] | None:
        """(id, row_hash) of the newest audit row, to anchor the chain outside the file."""
        with self._db.read() as conn:
            return _audit_head(conn)

    def record_event(
        self,
        actor: str,
        command: str,
        reason: str = "",
        before: object = None,
        after: object = None,
    ) -> AuditEntry:
        """Append an audit row for a command that changes no ledger table (line state, alarms).

        ``command`` is a dotted name such as ``line.state`` or ``line.command``; the ledger's
        own namespaces (work_order, serials, units, containers, outbox, sscc_stock) are refused,
        so such a row can never be mistaken for a ledger change. ``before``/``after`` must be
        JSON values.
        """
        check_actor(actor)
        check_line_event(command, reason)
        with self._db.write() as conn:
            return self._audit(conn, self._db.now(), actor, command, reason, before, after)

    def unpacked_after_last_case(self, batch: str) -> list[tuple[int, str]]:
        """Commissioned units of the batch in no case, after the last unit packed: (seq, serial).

        Blocking: the line calls it off the event loop when the packer resumes.
        """
        with self._db.read() as conn:
            return hierarchy.unpacked_after_last_case(conn, batch)

    def reject_counts(self, batch: str) -> dict[str, int]:
        """Scrapped serials of a batch by reason code, for the line's per-batch reject table.

        A rejected unit counts under its unit reason; a serial scrapped without a unit (lost in
        a crash, a cancelled print job) under the reason of its move to LabelScrapped.
        """
        with self._db.read() as conn:
            workorders.get(conn, batch)
            return reject_counts(conn, batch)

    def audit_entries(self, *, after_id: int = 0, limit: int = 100) -> list[AuditEntry]:
        """Audit rows after ``after_id``, oldest first."""
        with self._db.read() as conn:
            return _audit_entries(conn, after_id=after_id, limit=limit)

    # -- internals -------------------------------------------------------------------------------

    def _apply(
        self,
        conn: sqlite3.Connection,
        rows: Sequence[SerialRow],
        moves: Sequence[tuple[SerialRow, SerialState, str]],
        actor: str,
        reason: str,
        command: str,
        events: Sequence[OutboxEvent],
        gtin: str | None,
        extra: Mapping[str, object] | None = None,
    ) -> None:
        """Write checked moves, their events and the audit row (``extra`` added to its after);
        every caller looked ``rows`` up with ``gtin`` (or queues no events): events reuse them."""
        at = self._db.now()
        apply_moves(conn, moves, at=at, actor=actor)
        batches = sorted({row.batch for row in rows})
        insert_events(
            conn,
            events,
            at=at,
            command_serial_ids=[row.id for row in rows],
            default_batch=batches[0] if len(batches) == 1 else None,
            gtin=gtin,
            resolved=rows,
        )
        before = {"states": count_states(row.state for row in rows), "batches": batches}
        after = {
            "states": count_states(to for _, to, _ in moves),
            "serials": summarise([row.serial for row in rows]),
            "events": summarise([e.event_id for e in events], "event_ids"),
        } | dict(extra or {})
        self._audit(conn, at, actor, command, reason, before, after)

    def _audit(
        self,
        conn: sqlite3.Connection,
        at: str,
        actor: str,
        command: str,
        reason: str,
        before: object,
        after: object,
    ) -> AuditEntry:
        return append_audit(
            conn, at=at, actor=actor, command=command, reason=reason, before=before, after=after
        )
