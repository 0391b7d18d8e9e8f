"""Read-only queries over the packing hierarchy: trees, events by container, recall, orphans.

Each function takes a connection in a read (or write) transaction; ``ledger.containers.read``
runs one in a snapshot. They are built for a ledger of millions of units: every lookup goes
through an index (``units_by_container``, ``containers_by_parent``, ``containers_by_batch``,
``serials_by_serial``, ``outbox_by_parent`` on the AggregationEvent's ``parentID``), so the tree
of a pallet costs a few thousand index probes whatever the size of the file.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Collection, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from linectl.ledger import containers as rows_of
from linectl.ledger.models import Container, ContainerLevel, OutboxEntry
from linectl.ledger.outbox import entry
from linectl.ledger.states import SerialState
from standards.gs1.epc import (
    CANONICAL_DL_DOMAIN,
    Identifier,
    IdentifierError,
    parse_dl,
    parse_urn,
    sscc_dl,
    sscc_urn,
)

_OUTBOX = (
    "id, event_id, batch, kind, body, created_at, delivery, attempts, last_error, delivered_at"
)


@dataclass(frozen=True)
class UnitEntry:
    """A serial with its state and the container its unit is packed in (None: not packed)."""

    gtin: str
    serial: str
    batch: str
    state: SerialState
    container: str | None
    judged: bool = True  # False when the serial never got a verdict (no unit record)


@dataclass(frozen=True)
class ContainerTree:
    """A container, the units packed directly in it and its child containers, recursively."""

    container: Container
    units: tuple[UnitEntry, ...]
    children: tuple[ContainerTree, ...]

    @property
    def unit_count(self) -> int:
        """Units in this container and everything under it."""
        return len(self.units) + sum(child.unit_count for child in self.children)

    def walk(self) -> Iterator[ContainerTree]:
        """This node and every node under it, depth first."""
        yield self
        for child in self.children:
            yield from child.walk()


@dataclass(frozen=True)
class ContainerCount:
    """One container of a batch with its counts, for reconciliation and recall."""

    sscc: str
    level: str
    state: str
    parent: str | None
    units: int  # units in it, through its cases for a pallet
    cases: int  # cases on it (pallets); 0 for a case


@dataclass(frozen=True)
class Recall:
    """Everything of one lot: its batches, every unit with its state and every container."""

    lot: str
    batches: tuple[str, ...]
    units: tuple[UnitEntry, ...]
    containers: tuple[ContainerCount, ...]


@dataclass(frozen=True)
class ChainLink:
    """A container above a unit, with its counts and its aggregation events."""

    container: Container
    units: int
    cases: int
    events: tuple[OutboxEntry, ...]


def parent_notations(sscc: str, domains: Collection[str] = ()) -> list[str]:
    """Every way an event may have written the SSCC as parentID: EPC URN for each company-prefix
    length, Digital Link on the canonical domain and on ``domains``."""
    ids = [sscc_urn(sscc, length) for length in range(6, 13)]
    ids += [sscc_dl(sscc, domain=d) for d in (CANONICAL_DL_DOMAIN, *domains)]
    return list(dict.fromkeys(ids))


def identifier(text: str) -> Identifier | None:
    """An EPC URN or Digital Link as (scheme, key, qualifier); None when it is neither."""
    try:
        if text.startswith("urn:"):
            return parse_urn(text)[0]
        return parse_dl(text)
    except IdentifierError:
        return None


def units_in(conn: sqlite3.Connection, sscc: str) -> list[UnitEntry]:
    """Units packed directly in ``sscc``, in the order their serials arrived."""
    rows = conn.execute(
        "SELECT s.gtin, s.serial, s.batch, s.state, u.container FROM units AS u "
        "JOIN serials AS s ON s.id = u.serial_id WHERE u.container = ? ORDER BY s.id",
        (sscc,),
    )
    return [_unit(row) for row in rows]


def fill_counts(conn: sqlite3.Connection, case: str | None, pallet: str | None) -> tuple[int, int]:
    """(units packed directly in ``case``, cases on ``pallet``); 0 for None: how full the
    packer's open case and pallet are."""
    units, cases = conn.execute(
        "SELECT (SELECT count(*) FROM units WHERE container = ?), "
        "(SELECT count(*) FROM containers WHERE parent = ?)",
        (case, pallet),
    ).fetchone()
    return int(units), int(cases)


def tree(conn: sqlite3.Connection, sscc: str) -> ContainerTree:
    """The full tree under a case or pallet (ContainerError for an unknown SSCC)."""
    return _tree(conn, rows_of.get(conn, sscc), set())


def _tree(conn: sqlite3.Connection, container: Container, seen: set[str]) -> ContainerTree:
    seen.add(container.sscc)
    children = [
        rows_of.get(conn, str(r[0]))
        for r in conn.execute(
            "SELECT sscc FROM containers WHERE parent = ? ORDER BY sscc", (container.sscc,)
        )
    ]
    return ContainerTree(
        container,
        tuple(units_in(conn, container.sscc)),
        tuple(_tree(conn, child, seen) for child in children if child.sscc not in seen),
    )


def lookup_units(
    conn: sqlite3.Connection, keys: Sequence[tuple[str, str]]
) -> dict[tuple[str, str], UnitEntry]:
    """(GTIN, serial) -> what the ledger holds for it; keys the ledger does not know are absent."""
    found: dict[tuple[str, str], UnitEntry] = {}
    for gtin, serial in keys:
        row = conn.execute(
            "SELECT s.gtin, s.serial, s.batch, s.state, u.container, u.serial_id IS NOT NULL "
            "FROM serials AS s LEFT JOIN units AS u ON u.serial_id = s.id "
            "WHERE s.gtin = ? AND s.serial = ?",
            (gtin, serial),
        ).fetchone()
        if row is not None:
            found[(gtin, serial)] = _unit(row[:5], judged=bool(row[5]))
    return found


def container_events(conn: sqlite3.Connection, parent_ids: Collection[str]) -> list[OutboxEntry]:
    """AggregationEvents whose parent is one of ``parent_ids`` (any notation), in queue order."""
    if not parent_ids:
        return []
    marks = ", ".join("?" * len(parent_ids))
    rows = conn.execute(
        f"SELECT {_OUTBOX} FROM outbox WHERE json_extract(body, '$.parentID') IN ({marks}) "
        "ORDER BY id",
        list(parent_ids),
    ).fetchall()
    return [entry(row) for row in rows]


def announced_children(conn: sqlite3.Connection, parent_ids: Collection[str]) -> set[Identifier]:
    """Children the queued events say are in the parent now: packing adds, unpacking removes.

    An unpacking event without ``childEPCs`` empties the parent. Children are compared as
    identifiers, so a change of notation (URN or Digital Link) does not matter.
    """
    inside: set[Identifier] = set()
    for event in container_events(conn, parent_ids):
        body: dict[str, Any] = json.loads(event.body)
        children = {i for i in map(identifier, body.get("childEPCs", [])) if i is not None}
        if body.get("action") == "ADD":
            inside |= children
        elif body.get("action") == "DELETE":
            inside = inside - children if "childEPCs" in body else set()
    return inside


_COUNTED = (
    "SELECT c.sscc, c.level, c.state, c.parent, "
    "(SELECT count(*) FROM units AS u WHERE u.container = c.sscc) + "
    "(SELECT count(*) FROM containers AS k JOIN units AS u ON u.container = k.sscc "
    "WHERE k.parent = c.sscc), "
    "(SELECT count(*) FROM containers AS k WHERE k.parent = c.sscc) "
    "FROM containers AS c"
)


def batch_containers(conn: sqlite3.Connection, batch: str) -> list[ContainerCount]:
    """Every case and pallet of a batch with its counts: pallets first, then cases."""
    rows = conn.execute(
        f"{_COUNTED} WHERE c.batch = ? ORDER BY c.level DESC, c.sscc", (batch,)
    ).fetchall()
    return [_count(row) for row in rows]


def _count(row: Sequence[Any]) -> ContainerCount:
    sscc, level, state, parent, units, cases = row
    return ContainerCount(
        str(sscc), str(level), str(state), None if parent is None else str(parent), units, cases
    )


def count(conn: sqlite3.Connection, sscc: str) -> ContainerCount:
    """One container's counts (ContainerError for an unknown SSCC)."""
    row = conn.execute(f"{_COUNTED} WHERE c.sscc = ?", (sscc,)).fetchone()
    if row is None:
        rows_of.get(conn, sscc)  # raises, naming the SSCC
    return _count(row)


def chain(
    conn: sqlite3.Connection, sscc: str | None, domains: Collection[str] = ()
) -> list[ChainLink]:
    """The container ``sscc`` and those above it, innermost first, each with counts and events."""
    links = []
    for container in rows_of.chain(conn, sscc):
        counted = count(conn, container.sscc)
        events = container_events(conn, parent_notations(container.sscc, domains))
        links.append(ChainLink(container, counted.units, counted.cases, tuple(events)))
    return links


def orphans(conn: sqlite3.Connection, batch: str) -> list[str]:
    """Commissioned units of the batch packed in no container, in the order they arrived."""
    rows = conn.execute(
        "SELECT s.serial FROM serials AS s JOIN units AS u ON u.serial_id = s.id "
        "WHERE s.batch = ? AND s.state = ? AND u.container IS NULL ORDER BY s.id",
        (batch, int(SerialState.COMMISSIONED)),
    )
    return [str(r[0]) for r in rows]


def unpacked_after_last_case(conn: sqlite3.Connection, batch: str) -> list[tuple[int, str]]:
    """Commissioned units of the batch in no case whose seq is after the last unit packed.

    (seq, serial) in seq order: what the packer still has to take when the line resumes.
    """
    (last,) = conn.execute(
        "SELECT max(u.seq) FROM containers AS c JOIN units AS u ON u.container = c.sscc "
        "WHERE c.batch = ?",
        (batch,),
    ).fetchone()
    rows = conn.execute(
        "SELECT u.seq, s.serial FROM serials AS s JOIN units AS u ON u.serial_id = s.id "
        "WHERE s.batch = ? AND s.state = ? AND u.container IS NULL AND u.seq > ? ORDER BY u.seq",
        (batch, int(SerialState.COMMISSIONED), -1 if last is None else int(last)),
    )
    return [(int(seq), str(serial)) for seq, serial in rows]


def last_seq_in(conn: sqlite3.Connection, sscc: str) -> int | None:
    """The highest pack seq among the units packed directly in ``sscc`` (None: no unit)."""
    (last,) = conn.execute("SELECT max(seq) FROM units WHERE container = ?", (sscc,)).fetchone()
    return None if last is None else int(last)


def recall(conn: sqlite3.Connection, lot: str) -> Recall:
    """Every unit, case and pallet of a lot (all batches that print it) with its state."""
    batches = [
        str(r[0])
        for r in conn.execute("SELECT batch FROM work_orders WHERE lot = ? ORDER BY rowid", (lot,))
    ]
    units: list[UnitEntry] = []
    holders: set[str] = set()
    for batch in batches:
        for row in conn.execute(
            "SELECT s.gtin, s.serial, s.batch, s.state, u.container, u.serial_id IS NOT NULL "
            "FROM serials AS s LEFT JOIN units AS u ON u.serial_id = s.id "
            "WHERE s.batch = ? ORDER BY s.id",
            (batch,),
        ):
            unit = _unit(row[:5], judged=bool(row[5]))
            units.append(unit)
            if unit.container is not None:
                holders.add(unit.container)
    ssccs = {c.sscc for batch in batches for c in rows_of.find(conn, batch=batch, level=None)}
    for sscc in sorted(holders - ssccs):  # units of the lot packed in another batch's case
        ssccs.update(c.sscc for c in rows_of.chain(conn, sscc))
    rows = [conn.execute(f"{_COUNTED} WHERE c.sscc = ?", (sscc,)).fetchone() for sscc in ssccs]
    rows.sort(key=lambda r: (r[1] != ContainerLevel.PALLET.value, r[0]))
    return Recall(lot, tuple(batches), tuple(units), tuple(_count(row) for row in rows))


def highest_sscc(conn: sqlite3.Connection, low: str, high: str) -> str | None:
    """The highest SSCC of a container between ``low`` and ``high`` (same length), or None."""
    row = conn.execute(
        "SELECT max(sscc) FROM containers WHERE sscc BETWEEN ? AND ?", (low, high)
    ).fetchone()
    return None if row[0] is None else str(row[0])


def labels_verified(conn: sqlite3.Connection, ssccs: Collection[str]) -> dict[str, bool]:
    """Whether each container's label was verified since it was last closed (audit trail).

    Reads the ``containers.close`` and ``label.verify`` audit rows in order: a close resets,
    a verification that read the right SSCC sets. Used once when the line resumes.
    """
    status = dict.fromkeys(ssccs, False)
    for command, after in conn.execute(
        "SELECT command, after FROM audit WHERE command IN ('containers.close', 'label.verify') "
        "ORDER BY id"
    ):
        try:
            data = json.loads(after)
            if command == "containers.close":
                sscc, ok = str(data["change"]["sscc"]), False
            else:
                sscc, ok = str(data["sscc"]), bool(data["ok"])
        except (ValueError, KeyError, TypeError):
            continue
        if sscc in status:
            status[sscc] = ok
    return status


def _unit(row: Sequence[Any], *, judged: bool = True) -> UnitEntry:
    gtin, serial, batch, state, container = row
    return UnitEntry(
        str(gtin),
        str(serial),
        str(batch),
        SerialState(state),
        None if container is None else str(container),
        judged,
    )
