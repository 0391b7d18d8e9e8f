"""Whole-ledger tamper check: every row's seal, the chains, and cross-checks between tables.

``verify_audit`` (in ``linectl.ledger.audit``) walks the audit chain, tallying what it recorded,
and then calls ``check_rows``. Per table, in one pass each (O(rows), a sha256 per row):

- work_orders, serials, units, containers: each row's seal (``linectl.ledger.seals``).
- serial_history: seals chained in id order, ids without gaps, each serial's history starting
  with its arrival and every later row continuing from the previous row's state by a transition
  that ``TRANSITIONS`` allows; every row belongs to an existing serial.
- serials: the current state equals the ``to_state`` of the serial's last history row, the
  batch has a work order with the same GTIN.
- units: the serial exists and its history left Encoded the way the verdict says (good ->
  Commissioned, reject -> LabelScrapped); the container exists.
- containers: batch and parent exist, a parent is a pallet.
- outbox: seals chained in id order over the event and the serials it mentions
  (outbox_serials), ids without gaps up to ``sqlite_sequence``, the delivery seal.
- sscc_stock: each row's seal.
- against the audit trail (when its chain is intact; ``linectl.ledger.integrity_audit``): every
  work order and container was created by an audit row and every one created is there; the
  number of serials imported, of unit verdicts recorded and of SSCCs stocked equals the rows
  present. This catches whole rows deleted together with everything that points at them.

Each table reports its first problem (with how many more there are), naming the row.
"""

from __future__ import annotations

import sqlite3
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from linectl.ledger.integrity_audit import AuditTally, against_audit
from linectl.ledger.seals import (
    GENESIS,
    container_seal,
    delivery_seal,
    history_seal,
    links_text,
    nfc_tag_seal,
    outbox_seal,
    serial_seal,
    sscc_stock_seal,
    unit_seal,
    unit_tag_seal,
    work_order_seal,
)
from linectl.ledger.states import TRANSITIONS, SerialState

TABLES = (
    "work_orders",
    "serials",
    "serial_history",
    "units",
    "containers",
    "outbox",
    "sscc_stock",
    "unit_tags",
    "nfc_tags",
)
"""Tables checked, in the order their problems are reported."""

_ENCODED = int(SerialState.ENCODED)
_VERDICT_STATE = {"good": SerialState.COMMISSIONED, "reject": SerialState.LABEL_SCRAPPED}
_LEGAL = {int(a): {int(b) for b in targets} for a, targets in TRANSITIONS.items()}


def _label(state: int) -> str:
    try:
        return SerialState(state).label
    except ValueError:
        return f"state {state}"


def _seal_issue(stored: object, expected: str) -> str | None:
    """What is wrong with a stored seal, or None when it matches."""
    if stored == expected:
        return None
    if stored is None:
        return "no row hash (row added or edited behind linectl's back?)"
    return "row hash mismatch (edited?)"


class Findings:
    """The first problem of each table and how many more it has."""

    def __init__(self) -> None:
        self.first: dict[str, str] = {}
        self.more: Counter[str] = Counter()

    def wants(self, table: str) -> bool:
        """True while ``table`` has no problem yet (build detailed messages only then)."""
        return table not in self.first

    def add(self, table: str, message: str) -> None:
        """Record a problem: the first of its table is kept, later ones are counted."""
        if table in self.first:
            self.more[table] += 1
        else:
            self.first[table] = message

    def lines(self) -> list[str]:
        """One line per table with problems, in ``TABLES`` order."""
        result = []
        for table in sorted(self.first, key=lambda t: TABLES.index(t) if t in TABLES else -1):
            more = self.more[table]
            plural = "s" if more > 1 else ""
            suffix = f" (and {more} more problem{plural} in {table})" if more else ""
            result.append(self.first[table] + suffix)
        return result


@dataclass
class _Serials:
    """Per-serial facts gathered from the history and serials passes, indexed by serial id."""

    size: int
    last: bytearray  # to_state + 1 of the newest history row, 0 = no history
    left_encoded: bytearray  # to_state + 1 of the move out of Encoded, 0 = none
    present: bytearray  # 1 when a serials row has this id

    def has(self, serial_id: object) -> bool:
        return (
            isinstance(serial_id, int)
            and 0 < serial_id < self.size
            and bool(self.present[serial_id])
        )


def check_rows(
    conn: sqlite3.Connection, tally: AuditTally | None
) -> tuple[list[str], dict[str, int]]:
    """Check every sealed table; return (one problem line per broken table, rows per table)."""
    found = Findings()
    counts: dict[str, int] = {}
    orders = _work_orders(conn, found, counts, tally)
    max_id = int(conn.execute("SELECT coalesce(max(id), 0) FROM serials").fetchone()[0])
    facts = _Serials(
        max_id + 1, bytearray(max_id + 1), bytearray(max_id + 1), bytearray(max_id + 1)
    )
    _history(conn, found, counts, facts)
    _serials(conn, found, counts, facts, orders)
    containers = _containers(conn, found, counts, orders, tally)
    _units(conn, found, counts, facts, containers)
    _outbox(conn, found, counts, facts, orders)
    _sscc_stock(conn, found, counts)
    _tags(conn, found, counts)
    if tally is not None:
        for table, problem in against_audit(conn, counts, tally):
            found.add(table, problem)
    return found.lines(), {table: counts[table] for table in TABLES}


def _serial_name(conn: sqlite3.Connection, serial_id: object) -> str:
    row = conn.execute("SELECT serial FROM serials WHERE id = ?", (serial_id,)).fetchone()
    return f"serial {row[0]}" if row else f"serial id {serial_id}"


def _work_orders(
    conn: sqlite3.Connection,
    found: Findings,
    counts: dict[str, int],
    tally: AuditTally | None,
) -> dict[str, str]:
    """Seals of work orders; returns batch -> GTIN."""
    orders: dict[str, str] = {}
    for row in conn.execute(
        "SELECT batch, gtin, lot, expiry, quantity, target_market, materials, status, "
        "created_at, started_at, closed_at, row_hash FROM work_orders ORDER BY rowid"
    ):
        *fields, stored = row
        batch, gtin = str(row[0]), str(row[1])
        orders[batch] = gtin
        issues = [_seal_issue(stored, work_order_seal(*fields))]
        if tally is not None and batch not in tally.work_orders:
            issues.append("no audit row created it (added behind linectl's back?)")
        if text := "; ".join(i for i in issues if i):
            found.add("work_orders", f"work_orders row for batch {batch} (lot {row[2]}): {text}")
    counts["work_orders"] = len(orders)
    return orders


def _history(
    conn: sqlite3.Connection, found: Findings, counts: dict[str, int], facts: _Serials
) -> None:
    """The serial_history chain, its continuity per serial and the legality of each move."""
    prev: str | None = GENESIS
    prev_id = count = 0
    last, left_encoded, size, legal = facts.last, facts.left_encoded, facts.size, _LEGAL
    for row in conn.execute(
        "SELECT id, serial_id, from_state, to_state, at, reason, actor, row_hash "
        "FROM serial_history ORDER BY id"
    ):
        row_id, serial_id, from_state, to_state, at, reason, actor, stored = row
        count += 1
        expected = history_seal(row_id, serial_id, from_state, to_state, at, reason, actor, prev)
        # The common case in as few steps as possible: millions of rows pass through here.
        if (
            stored == expected
            and row_id == prev_id + 1
            and 0 < serial_id < size
            and (
                to_state in legal.get(from_state, ())
                if from_state is not None
                else 0 <= to_state < 12 and not last[serial_id]
            )
            and (from_state is None or last[serial_id] == from_state + 1)
        ):
            last[serial_id] = to_state + 1
            if from_state == _ENCODED:
                left_encoded[serial_id] = to_state + 1
            prev, prev_id = stored, row_id
            continue
        issues = _history_issues(row, expected, prev_id, facts)
        prev, prev_id = stored, row_id
        if found.wants("serial_history"):  # look the serial up for the first problem only
            name = _serial_name(conn, serial_id)
            found.add(
                "serial_history", f"serial_history row {row_id} ({name}): {'; '.join(issues)}"
            )
        else:
            found.add("serial_history", "")
    counts["serial_history"] = count


def _history_issues(
    row: tuple[Any, ...], expected: str, prev_id: int, facts: _Serials
) -> list[str]:
    """What is wrong with a history row that failed the quick check; updates ``facts``."""
    row_id, serial_id, from_state, to_state, _, _, _, stored = row
    issues: list[str] = []
    if row_id != prev_id + 1:
        gap = prev_id + 1, row_id - 1
        where = f"row {gap[0]} is" if gap[0] == gap[1] else f"rows {gap[0]}..{gap[1]} are"
        issues.append(f"ids jump from {prev_id} to {row_id}: {where} missing (deleted?)")
    elif stored != expected:  # after a gap the link breaks anyway
        issues.append(
            "no row hash (row added behind linectl's back?)"
            if stored is None
            else "row hash mismatch (edited, or a row before it inserted or removed?)"
        )
    if not (isinstance(serial_id, int) and 0 < serial_id < facts.size):
        issues.append(f"serial id {serial_id} does not exist (serial row deleted?)")
    elif not isinstance(to_state, int) or not 0 <= to_state < 12:
        issues.append(f"to_state {to_state!r} is not a serial state")
    else:
        before = facts.last[serial_id]
        if from_state is None:
            if before:
                issues.append("a second arrival row for the serial (from_state is NULL)")
        elif not before:
            issues.append("the serial's history does not start with its arrival")
        elif before - 1 != from_state:
            issues.append(
                f"moves from {_label(from_state)} but the serial's previous history entry "
                f"says {_label(before - 1)} (rows removed or edited?)"
            )
        elif to_state not in _LEGAL.get(from_state, ()):
            issues.append(f"illegal transition {_label(from_state)} -> {_label(to_state)}")
        facts.last[serial_id] = to_state + 1
        if from_state == _ENCODED:
            facts.left_encoded[serial_id] = to_state + 1
    return issues


def _serials(
    conn: sqlite3.Connection,
    found: Findings,
    counts: dict[str, int],
    facts: _Serials,
    orders: dict[str, str],
) -> None:
    """Seals of serials, each state against its last history entry, batch and GTIN."""
    count = 0
    last, present = facts.last, facts.present
    for row in conn.execute(
        "SELECT id, gtin, serial, batch, state, updated_at, row_hash FROM serials ORDER BY id"
    ):
        row_id, gtin, serial, batch, state, updated_at, stored = row
        count += 1
        issues: list[str] = []
        newest = 0
        if row_id > 0:  # ids are positive unless someone inserted one by hand
            present[row_id] = 1
            newest = last[row_id]
        if not newest:
            issues.append("it has no history (added behind linectl's back?)")
        elif newest - 1 != state:
            issues.append(
                f"state is {_label(state)} but its last history entry says {_label(newest - 1)}"
            )
        if batch not in orders:
            issues.append(f"batch {batch} has no work order")
        elif orders[batch] != gtin:
            issues.append(f"GTIN {gtin} is not its work order's {orders[batch]}")
        if issue := _seal_issue(
            stored, serial_seal(row_id, gtin, serial, batch, state, updated_at)
        ):
            issues.append(issue)
        if issues:
            found.add("serials", f"serials row {row_id} (serial {serial}): {'; '.join(issues)}")
    counts["serials"] = count
    orphans = (i for i in range(1, facts.size) if last[i] and not present[i])
    if (orphan := next(orphans, None)) is not None:
        (first,) = conn.execute(
            "SELECT min(id) FROM serial_history WHERE serial_id = ?", (orphan,)
        ).fetchone()
        found.add(
            "serial_history",
            f"serial_history row {first}: serial id {orphan} does not exist (serial row deleted?)",
        )


def _containers(
    conn: sqlite3.Connection,
    found: Findings,
    counts: dict[str, int],
    orders: dict[str, str],
    tally: AuditTally | None,
) -> dict[str, str]:
    """Seals of containers, their batch and parent; returns SSCC -> level."""
    rows = conn.execute(
        "SELECT sscc, level, state, batch, parent, created_at, updated_at, row_hash "
        "FROM containers ORDER BY sscc"
    ).fetchall()  # cases and pallets: thousands, not millions
    levels = {str(row[0]): str(row[1]) for row in rows}
    for row in rows:
        *fields, stored = row
        sscc, level, batch, parent = str(row[0]), str(row[1]), row[3], row[4]
        issues = [_seal_issue(stored, container_seal(*fields))]
        if batch is not None and batch not in orders:
            issues.append(f"batch {batch} has no work order")
        if parent is not None and levels.get(parent) != "pallet":
            issues.append(
                f"parent {parent} {'does not exist' if parent not in levels else 'is not a pallet'}"
            )
        if tally is not None and sscc not in tally.containers:
            issues.append("no audit row created it (added behind linectl's back?)")
        if text := "; ".join(i for i in issues if i):
            found.add("containers", f"containers row {sscc} ({level}): {text}")
    counts["containers"] = len(levels)
    return levels


def _units(
    conn: sqlite3.Connection,
    found: Findings,
    counts: dict[str, int],
    facts: _Serials,
    containers: dict[str, str],
) -> None:
    """Seals of units, each verdict against the serial's history, and the container."""
    count = 0
    for row in conn.execute(
        "SELECT serial_id, seq, verdict, grade, reason, printed_at, verdict_at, container, "
        "row_hash FROM units ORDER BY serial_id"
    ):
        *fields, stored = row
        serial_id, verdict, container = row[0], row[2], row[7]
        count += 1
        issues: list[str] = []
        if not facts.has(serial_id):
            issues.append("its serial does not exist")
        else:
            moved = facts.left_encoded[serial_id]
            wanted = _VERDICT_STATE.get(verdict)
            if not moved:
                issues.append(f"verdict is {verdict} but the serial's history never left Encoded")
            elif wanted is not None and moved - 1 != wanted:
                issues.append(
                    f"verdict is {verdict} but the serial's history says Encoded -> "
                    f"{_label(moved - 1)}"
                )
        if container is not None and container not in containers:
            issues.append(f"container {container} does not exist")
        if issue := _seal_issue(stored, unit_seal(*fields)):
            issues.append(issue)
        if issues:
            if found.wants("units"):  # look the serial up for the first problem only
                name = _serial_name(conn, serial_id)
                found.add("units", f"units row {serial_id} ({name}): {'; '.join(issues)}")
            else:
                found.add("units", "")
    counts["units"] = count


def _links(conn: sqlite3.Connection) -> Iterator[tuple[int, int]]:
    yield from conn.execute(
        "SELECT outbox_id, serial_id FROM outbox_serials ORDER BY outbox_id, serial_id"
    )


def _outbox(
    conn: sqlite3.Connection,
    found: Findings,
    counts: dict[str, int],
    facts: _Serials,
    orders: dict[str, str],
) -> None:
    """The outbox chain over events and their serial links, its tail, and delivery seals."""
    links = _links(conn)
    link = next(links, None)
    prev: str | None = GENESIS
    prev_id = count = 0
    for row in conn.execute(
        "SELECT id, event_id, batch, kind, body, created_at, delivery, delivered_at, row_hash, "
        "delivery_hash FROM outbox ORDER BY id"
    ):
        row_id, event_id, batch, kind, body, created_at, delivery, delivered_at = row[:8]
        stored, delivery_stored = row[8], row[9]
        count += 1
        issues: list[str] = []
        serial_ids: list[int] = []
        while link is not None and link[0] <= row_id:
            if link[0] < row_id:
                issues.append(f"outbox_serials links event #{link[0]}, which does not exist")
            else:
                serial_ids.append(link[1])
                if not facts.has(link[1]):
                    issues.append(f"outbox_serials links serial id {link[1]}, which does not exist")
            link = next(links, None)
        if row_id != prev_id + 1:
            gap = prev_id + 1, row_id - 1
            where = f"event {gap[0]} is" if gap[0] == gap[1] else f"events {gap[0]}..{gap[1]} are"
            issues.append(f"ids jump from {prev_id} to {row_id}: {where} missing (deleted?)")
        expected = outbox_seal(
            row_id, event_id, batch, kind, body, created_at, links_text(serial_ids), prev
        )
        if stored != expected and row_id == prev_id + 1:
            issues.append(
                "no row hash (row added behind linectl's back?)"
                if stored is None
                else "row hash mismatch (event, its order or the serials it names edited?)"
            )
        if delivery_stored != delivery_seal(row_id, stored, delivery, delivered_at):
            issues.append(f"delivery state {delivery!r} is not what linectl recorded (edited?)")
        if batch is not None and batch not in orders:
            issues.append(f"batch {batch} has no work order")
        prev, prev_id = stored, row_id
        if issues:
            found.add("outbox", f"outbox row {row_id} (event {event_id}): {'; '.join(issues)}")
    if link is not None:
        found.add("outbox", f"outbox: outbox_serials links event #{link[0]}, which does not exist")
    seq_row = conn.execute("SELECT seq FROM sqlite_sequence WHERE name = 'outbox'").fetchone()
    seq = int(seq_row[0]) if seq_row else 0
    if seq > prev_id:
        where = f"event {seq} is" if seq == prev_id + 1 else f"events {prev_id + 1}..{seq} are"
        found.add(
            "outbox",
            f"outbox: {where} missing at the end (sqlite_sequence records {seq} events queued; "
            "deleted?)",
        )
    counts["outbox"] = count


def _sscc_stock(conn: sqlite3.Connection, found: Findings, counts: dict[str, int]) -> None:
    """Seals of the SSCC stock (provisioned SSCCs: thousands, not millions)."""
    count = 0
    for row_id, sscc, added_at, stored in conn.execute(
        "SELECT id, sscc, added_at, row_hash FROM sscc_stock ORDER BY id"
    ):
        count += 1
        if issue := _seal_issue(stored, sscc_stock_seal(row_id, sscc, added_at)):
            found.add("sscc_stock", f"sscc_stock row {row_id} ({sscc}): {issue}")
    counts["sscc_stock"] = count


def _tags(conn: sqlite3.Connection, found: Findings, counts: dict[str, int]) -> None:
    """Seals of the RFID tags read on units and the NFC tag UIDs imported for them."""
    count = 0
    for serial_id, epc, uri, tid, stored in conn.execute(
        "SELECT serial_id, epc, epc_uri, tid, row_hash FROM unit_tags ORDER BY serial_id"
    ):
        count += 1
        if issue := _seal_issue(stored, unit_tag_seal(serial_id, epc, uri, tid)):
            found.add("unit_tags", f"unit_tags row of {_serial_name(conn, serial_id)}: {issue}")
    counts["unit_tags"] = count
    count = 0
    for serial_id, uid, audit_id, stored in conn.execute(
        "SELECT serial_id, uid, audit_id, row_hash FROM nfc_tags ORDER BY serial_id"
    ):
        count += 1
        if issue := _seal_issue(stored, nfc_tag_seal(serial_id, uid, audit_id)):
            found.add("nfc_tags", f"nfc_tags row of {_serial_name(conn, serial_id)}: {issue}")
    counts["nfc_tags"] = count
