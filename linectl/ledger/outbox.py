"""The upstream outbox: EPCIS events queued in order, each linked to the serials it mentions."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable, Sequence
from typing import Any

from linectl.ledger.audit import append_audit, summarise
from linectl.ledger.connection import LedgerConnection, check_actor
from linectl.ledger.errors import DuplicateEvent, LedgerError, UnknownWorkOrder, ValidationError
from linectl.ledger.models import Delivery, OutboxEntry, OutboxEvent
from linectl.ledger.seals import delivery_seal, links_text, outbox_head, outbox_seal
from linectl.ledger.serials import SerialRow, resolve
from linectl.ledger.validation import check_text

_COLUMNS = (
    "id, event_id, batch, kind, body, created_at, delivery, attempts, last_error, delivered_at"
)


_COMPACT = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False)
"""What ``json.dumps`` with these options builds per call, built once (it keeps no state)."""


def _body_text(event: OutboxEvent, index: int) -> str:
    """The event body as compact JSON text, refusing text that is not JSON."""
    if isinstance(event.body, str):
        try:
            json.loads(event.body)
        except json.JSONDecodeError as exc:
            raise ValidationError(
                f"is not JSON ({exc.msg} at offset {exc.pos})",
                field="event body",
                value=event.body[:60],
                index=index,
            ) from exc
        return event.body
    return _COMPACT.encode(event.body)


def insert_events(
    conn: sqlite3.Connection,
    events: Sequence[OutboxEvent],
    *,
    at: str,
    command_serial_ids: Sequence[int],
    default_batch: str | None,
    gtin: str | None,
    resolved: Sequence[SerialRow] = (),
) -> list[int]:
    """Queue events after the last one (in the caller's transaction); return their ids.

    Each event is sealed with the serials it mentions and chained to the event before it; the
    chain head is read once per call, and ids are given explicitly since seals cover them.
    ``resolved``: rows the command looked up with this same ``gtin`` in this transaction; an
    event naming only those (each once) takes their ids instead of looking them up again.
    """
    ids: list[int] = []
    if not events:
        return ids
    known = {row.serial: row.id for row in resolved}
    last_id, prev = outbox_head(conn)
    for index, event in enumerate(events):
        check_text(event.event_id, "event_id")
        check_text(event.kind, "event kind")
        body = _body_text(event, index)
        existing = conn.execute(
            "SELECT id FROM outbox WHERE event_id = ?", (event.event_id,)
        ).fetchone()
        if existing is not None:
            raise DuplicateEvent(
                f"event {event.event_id!r} (index {index}) is already in the outbox as "
                f"#{existing[0]}; nothing changed"
            )
        batch = event.batch if event.batch is not None else default_batch
        if batch is not None and (
            conn.execute("SELECT 1 FROM work_orders WHERE batch = ?", (batch,)).fetchone() is None
        ):
            raise UnknownWorkOrder(batch)
        if event.serials is None:
            serial_ids = list(command_serial_ids)
        else:
            serial_ids = _serial_ids(conn, event.serials, gtin, known)
        outbox_id = last_id = last_id + 1
        prev = outbox_seal(
            outbox_id, event.event_id, batch, event.kind, body, at, links_text(serial_ids), prev
        )
        pending_seal = delivery_seal(outbox_id, prev, Delivery.PENDING.value, None)
        conn.execute(
            "INSERT INTO outbox (id, event_id, batch, kind, body, created_at, row_hash, "
            "delivery_hash) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (outbox_id, event.event_id, batch, event.kind, body, at, prev, pending_seal),
        )
        conn.executemany(
            "INSERT INTO outbox_serials (outbox_id, serial_id) VALUES (?, ?)",
            [(outbox_id, serial_id) for serial_id in serial_ids],
        )
        ids.append(outbox_id)
    return ids


def _serial_ids(
    conn: sqlite3.Connection, serials: Sequence[str], gtin: str | None, known: dict[str, int]
) -> list[int]:
    """Ids of the serials an event names: from ``known`` when it has each of them (named
    once), else looked up (which refuses unknown, ambiguous and repeated serials)."""
    if known and len(set(serials)) == len(serials):
        ids = [known.get(serial) for serial in serials]
        if None not in ids:
            return ids  # type: ignore[return-value]
    return [row.id for row in resolve(conn, serials, gtin)]


def pending(conn: sqlite3.Connection, limit: int) -> list[OutboxEntry]:
    """The oldest ``limit`` undelivered events, in the order they were queued."""
    rows = conn.execute(
        f"SELECT {_COLUMNS} FROM outbox WHERE delivery = 'pending' ORDER BY id LIMIT ?", (limit,)
    ).fetchall()
    return [entry(row) for row in rows]


def last_id(conn: sqlite3.Connection) -> int:
    """The id of the newest queued event (0 for an empty outbox): a mark to list what follows."""
    (head,) = conn.execute("SELECT coalesce(max(id), 0) FROM outbox").fetchone()
    return int(head)


def queued_after(conn: sqlite3.Connection, mark: int) -> list[tuple[str, str]]:
    """(kind, event_id) of the events queued after ``mark`` (from :func:`last_id`), in order."""
    rows = conn.execute(
        "SELECT kind, event_id FROM outbox WHERE id > ? ORDER BY id", (mark,)
    ).fetchall()
    return [(str(kind), str(event_id)) for kind, event_id in rows]


def for_serial(conn: sqlite3.Connection, serial_id: int) -> list[OutboxEntry]:
    """Every queued or delivered event that mentions one serial, in queue order."""
    rows = conn.execute(
        f"SELECT {', '.join('o.' + c.strip() for c in _COLUMNS.split(','))} "
        "FROM outbox_serials AS s JOIN outbox AS o ON o.id = s.outbox_id "
        "WHERE s.serial_id = ? ORDER BY o.id",
        (serial_id,),
    ).fetchall()
    return [entry(row) for row in rows]


def mark_delivered(conn: sqlite3.Connection, ids: Sequence[int], *, at: str) -> list[int]:
    """Mark events delivered; return the ids that were pending (unknown ids are an error).

    The delivery seal is renewed, unless the stored one did not match the row (edited behind
    linectl's back): then it stays stale so verification still shows the edit.
    """
    changed: list[int] = []
    for index, outbox_id in enumerate(ids):
        row = conn.execute(
            "SELECT delivery, delivered_at, row_hash, delivery_hash FROM outbox WHERE id = ?",
            (outbox_id,),
        ).fetchone()
        if row is None:
            raise LedgerError(f"outbox event #{outbox_id} (index {index}) does not exist")
        delivery, delivered_at, row_hash, stored = row
        if delivery == Delivery.PENDING:
            new_seal = stored
            if stored == delivery_seal(outbox_id, row_hash, delivery, delivered_at):
                new_seal = delivery_seal(outbox_id, row_hash, Delivery.DELIVERED.value, at)
            conn.execute(
                "UPDATE outbox SET delivery = 'delivered', delivered_at = ?, delivery_hash = ? "
                "WHERE id = ?",
                (at, new_seal, outbox_id),
            )
            changed.append(outbox_id)
    return changed


def record_failure(conn: sqlite3.Connection, ids: Sequence[int], error: str) -> None:
    """Count one more failed delivery attempt for each event and keep the last error."""
    conn.executemany(
        "UPDATE outbox SET attempts = attempts + 1, last_error = ? "
        "WHERE id = ? AND delivery = 'pending'",
        [(error, outbox_id) for outbox_id in ids],
    )


def counts(conn: sqlite3.Connection) -> dict[str, int]:
    """Number of events by delivery state."""
    result = {d.value: 0 for d in Delivery}
    for delivery, count in conn.execute("SELECT delivery, count(*) FROM outbox GROUP BY delivery"):
        result[str(delivery)] = int(count)
    return result


def entry(row: tuple[Any, ...]) -> OutboxEntry:
    """An OutboxEntry from a SELECT of the outbox columns."""
    oid, event_id, batch, kind, body, created, delivery, attempts, last_error, delivered = row
    return OutboxEntry(
        id=int(oid),
        event_id=str(event_id),
        batch=None if batch is None else str(batch),
        kind=str(kind),
        body=str(body),
        created_at=str(created),
        delivery=Delivery(delivery),
        attempts=int(attempts),
        last_error=None if last_error is None else str(last_error),
        delivered_at=None if delivered is None else str(delivered),
    )


class Outbox:
    """The upstream queue of a Ledger (``ledger.outbox``): append, peek in order, mark delivered.

    Events caused by a state change are better queued with that change (``events=`` on the
    Ledger's commands) so both commit or neither does; ``append`` is for events of their own.
    """

    def __init__(self, db: LedgerConnection) -> None:
        self._db = db

    def append(
        self,
        events: Sequence[OutboxEvent],
        *,
        actor: str,
        reason: str = "",
        gtin: str | None = None,
    ) -> list[int]:
        """Queue events in one transaction (all or none); return their outbox ids."""
        check_actor(actor)
        if not events:
            return []
        with self._db.write() as conn:
            at = self._db.now()
            ids = insert_events(
                conn, events, at=at, command_serial_ids=(), default_batch=None, gtin=gtin
            )
            append_audit(
                conn,
                at=at,
                actor=actor,
                command="outbox.append",
                reason=reason,
                before={},
                after={"events": summarise([e.event_id for e in events], "event_ids")},
            )
        return ids

    def append_at_head(
        self,
        build: Callable[[int, str], OutboxEvent],
        *,
        actor: str,
        batch: str,
        reason: str = "",
    ) -> tuple[int, OutboxEvent]:
        """Queue one event that carries the audit chain head, in one transaction.

        The audit row ``outbox.chain_head`` is written first; ``build`` gets its id and row
        hash and returns the event, which is queued behind it. Nothing else is audited, so once
        this commits the event names the head of the trail. Returns (outbox id, event).
        """
        check_actor(actor)
        with self._db.write() as conn:
            at = self._db.now()
            row = append_audit(
                conn,
                at=at,
                actor=actor,
                command="outbox.chain_head",
                reason=reason,
                before={},
                after={"batch": batch},
            )
            event = build(row.id, row.row_hash)
            (outbox_id,) = insert_events(
                conn, [event], at=at, command_serial_ids=(), default_batch=batch, gtin=None
            )
        return outbox_id, event

    def peek(self, limit: int = 100) -> list[OutboxEntry]:
        """The oldest ``limit`` pending events, in queue order, without changing anything."""
        with self._db.read() as conn:
            return pending(conn, limit)

    def mark_delivered(self, ids: Sequence[int], *, actor: str = "uplink") -> int:
        """Mark events delivered (idempotent); return how many were still pending."""
        check_actor(actor)
        with self._db.write() as conn:
            at = self._db.now()
            changed = mark_delivered(conn, ids, at=at)
            if changed:
                append_audit(
                    conn,
                    at=at,
                    actor=actor,
                    command="outbox.mark_delivered",
                    reason="accepted upstream",
                    before={"pending": len(changed)},
                    after={
                        "delivered": len(changed),
                        "first_id": changed[0],
                        "last_id": changed[-1],
                    },
                )
        return len(changed)

    def record_failure(self, ids: Sequence[int], error: str) -> None:
        """Count a failed delivery attempt. Not audited: retry bookkeeping, not a state change."""
        with self._db.write() as conn:
            record_failure(conn, ids, error[:500])

    def counts(self) -> dict[str, int]:
        """Number of events pending and delivered."""
        with self._db.read() as conn:
            return counts(conn)
