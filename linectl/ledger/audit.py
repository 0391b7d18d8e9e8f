"""Hash-chained audit trail: one row per state-changing command, so tampering shows.

``row_hash = sha256(canonical JSON of [id, at, actor, command, reason, before, after, prev_hash])``
and ``prev_hash`` is the previous row's ``row_hash`` (64 zeros for row 1). ``verify_audit`` walks
the chain and names the first broken row.

What it detects: a row edited in place (its hash no longer matches), a row deleted from the middle
(ids jump and the next row's ``prev_hash`` dangles), rows re-hashed by hand (the following row's
link breaks), and a deleted tail as long as ``sqlite_sequence`` still remembers the highest id.
What it cannot detect alone: someone who truncates the tail *and* fixes ``sqlite_sequence``, or who
rewrites the whole chain from the edit onwards. Both need an anchor kept elsewhere: pass the
``(id, row_hash)`` from ``audit_head`` recorded outside the file (a batch report, an upstream
event) as ``anchor`` to ``verify_audit``.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

GENESIS_HASH = "0" * 64
"""``prev_hash`` of the first audit row."""

SERIAL_LIST_MAX = 50
"""Up to this many serials are listed in an audit summary; more are summarised by a digest."""


def canonical_json(value: object) -> str:
    """Deterministic JSON: sorted keys, no spaces, UTF-8 kept as is."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def compute_row_hash(
    row_id: int,
    at: str,
    actor: str,
    command: str,
    reason: str,
    before: str,
    after: str,
    prev_hash: str,
) -> str:
    """The sha256 (hex) of one audit row's fields and the previous row's hash."""
    payload = canonical_json([row_id, at, actor, command, reason, before, after, prev_hash])
    return hashlib.sha256(payload.encode("utf-8")).hexdigest()


def summarise(items: Sequence[str], key: str = "serials") -> dict[str, object]:
    """Items named in an audit row: the list when short, else count, digest, first and last."""
    if len(items) <= SERIAL_LIST_MAX:
        return {"count": len(items), key: list(items)}
    digest = hashlib.sha256("\n".join(sorted(items)).encode("utf-8")).hexdigest()
    return {
        "count": len(items),
        f"{key}_sha256_sorted": digest,
        "first": items[0],
        "last": items[-1],
    }


@dataclass(frozen=True)
class AuditEntry:
    """One audit row as stored; ``before`` and ``after`` are canonical JSON text."""

    id: int
    at: str
    actor: str
    command: str
    reason: str
    before: str
    after: str
    prev_hash: str
    row_hash: str


_COLUMNS = "id, at, actor, command, reason, before, after, prev_hash, row_hash"


def append_audit(
    conn: sqlite3.Connection,
    *,
    at: str,
    actor: str,
    command: str,
    reason: str,
    before: object,
    after: object,
) -> AuditEntry:
    """Write the next audit row; the caller's open write transaction makes it atomic."""
    last = conn.execute("SELECT row_hash FROM audit ORDER BY id DESC LIMIT 1").fetchone()
    prev_hash = str(last[0]) if last else GENESIS_HASH
    seq = conn.execute("SELECT seq FROM sqlite_sequence WHERE name = 'audit'").fetchone()
    row_id = (int(seq[0]) if seq else 0) + 1
    before_text, after_text = canonical_json(before), canonical_json(after)
    row_hash = compute_row_hash(
        row_id, at, actor, command, reason, before_text, after_text, prev_hash
    )
    conn.execute(
        f"INSERT INTO audit ({_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (row_id, at, actor, command, reason, before_text, after_text, prev_hash, row_hash),
    )
    return AuditEntry(
        row_id, at, actor, command, reason, before_text, after_text, prev_hash, row_hash
    )


def audit_entries(
    conn: sqlite3.Connection, *, after_id: int = 0, limit: int = 100
) -> list[AuditEntry]:
    """Audit rows with id greater than ``after_id``, oldest first."""
    rows = conn.execute(
        f"SELECT {_COLUMNS} FROM audit WHERE id > ? ORDER BY id LIMIT ?", (after_id, limit)
    ).fetchall()
    return [_entry(row) for row in rows]


def audit_head(conn: sqlite3.Connection) -> tuple[int, str] | None:
    """(id, row_hash) of the newest audit row: record it elsewhere to anchor the chain."""
    row = conn.execute("SELECT id, row_hash FROM audit ORDER BY id DESC LIMIT 1").fetchone()
    return (int(row[0]), str(row[1])) if row else None


@dataclass(frozen=True)
class AuditReport:
    """Outcome of walking the chain: ``ok``, or the first broken row and what mismatched."""

    ok: bool
    rows_checked: int
    first_broken_id: int | None = None
    problem: str | None = None
    head: tuple[int, str] | None = None

    def __str__(self) -> str:
        if self.ok:
            return f"audit chain intact: {self.rows_checked} rows"
        return f"audit chain broken at row {self.first_broken_id}: {self.problem}"


def verify_audit(conn: sqlite3.Connection, *, anchor: tuple[int, str] | None = None) -> AuditReport:
    """Walk the whole chain in id order and report the first row that does not hold."""
    expected_prev, prev_id, checked = GENESIS_HASH, 0, 0
    head: tuple[int, str] | None = None

    def broken(row_id: int, problem: str) -> AuditReport:
        return AuditReport(False, checked, row_id, problem, head)

    for raw in conn.execute(f"SELECT {_COLUMNS} FROM audit ORDER BY id"):
        entry = _entry(raw)
        if entry.id != prev_id + 1:
            first, last = prev_id + 1, entry.id - 1
            gap = f"row {first} was" if first == last else f"rows {first}..{last} were"
            return broken(entry.id, f"ids jump from {prev_id} to {entry.id}: {gap} deleted")
        recomputed = compute_row_hash(
            entry.id,
            entry.at,
            entry.actor,
            entry.command,
            entry.reason,
            entry.before,
            entry.after,
            entry.prev_hash,
        )
        if recomputed != entry.row_hash:
            return broken(
                entry.id,
                "row_hash does not match the row's content: the row was edited after it "
                f"was written (stored {entry.row_hash[:12]}..., content hashes to "
                f"{recomputed[:12]}...)",
            )
        if entry.prev_hash != expected_prev:
            return broken(
                entry.id,
                f"prev_hash does not match the row_hash of row {prev_id}: the chain was "
                "rewritten or rows were removed or inserted before this one",
            )
        expected_prev, prev_id = entry.row_hash, entry.id
        head = (entry.id, entry.row_hash)
        checked += 1

    seq_row = conn.execute("SELECT seq FROM sqlite_sequence WHERE name = 'audit'").fetchone()
    seq = int(seq_row[0]) if seq_row else 0
    if seq > prev_id:
        return broken(
            prev_id + 1,
            f"rows {prev_id + 1}..{seq} are missing at the end (sqlite_sequence records "
            f"{seq} rows written)",
        )
    if anchor is not None:
        anchor_id, anchor_hash = anchor
        row = conn.execute("SELECT row_hash FROM audit WHERE id = ?", (anchor_id,)).fetchone()
        if row is None:
            return broken(anchor_id, f"anchored row {anchor_id} is missing (tail truncated)")
        if str(row[0]) != anchor_hash:
            return broken(anchor_id, f"anchored row {anchor_id} has a different row_hash")
    return AuditReport(True, checked, head=head)


def _entry(row: tuple[Any, ...]) -> AuditEntry:
    """An AuditEntry from a SELECT of ``_COLUMNS``."""
    row_id, at, actor, command, reason, before, after, prev_hash, row_hash = row
    return AuditEntry(
        int(row_id),
        str(at),
        str(actor),
        str(command),
        str(reason),
        str(before),
        str(after),
        str(prev_hash),
        str(row_hash),
    )
