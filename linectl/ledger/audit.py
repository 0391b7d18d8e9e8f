"""Hash-chained audit trail: one row per state-changing command, so tampering shows.

``verify_audit`` checks the whole ledger, not only this table: after the chain it checks every
sealed row of the other tables and what the audit trail recorded against them (see
``linectl.ledger.integrity``); the report lists the first problem of each table.

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
from dataclasses import dataclass, field
from json.encoder import encode_basestring
from typing import Any

from linectl.ledger.audit_keys import (
    check_macs,
    insert_mac,
    keyed_fingerprint,
    keying_table_missing,
)
from linectl.ledger.integrity import check_rows
from linectl.ledger.integrity_audit import AuditTally

GENESIS_HASH = "0" * 64
"""``prev_hash`` of the first audit row."""

SERIAL_LIST_MAX = 50
"""Up to this many serials are listed in an audit summary; more are summarised by a digest."""


_CANONICAL = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=False)
"""What ``json.dumps`` with these options builds per call, built once (it keeps no state)."""


def canonical_json(value: object) -> str:
    """Deterministic JSON: sorted keys, no spaces, UTF-8 kept as is."""
    return _CANONICAL.encode(value)


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


def _quick_row_hash(row: tuple[Any, ...]) -> str:
    """``compute_row_hash`` of a stored row, for the walk over millions of rows.

    The same bytes as ``canonical_json`` of the row's list (an int, then seven strings, compact
    separators, ``ensure_ascii=False``): the json module's own string encoder, called directly
    rather than through ``json.dumps``. ``test_tamper`` checks the two agree.
    """
    row_id, at, actor, command, reason, before, after, prev_hash, _ = row
    e = encode_basestring
    text = (
        f"[{int(row_id)},{e(at)},{e(actor)},{e(command)},{e(reason)},{e(before)},{e(after)},"
        f"{e(prev_hash)}]"
    )
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


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
_HEAD = (
    "SELECT (SELECT row_hash FROM audit ORDER BY id DESC LIMIT 1), "
    "(SELECT seq FROM sqlite_sequence WHERE name = 'audit')"
)
_HEAD_KEYED = f"{_HEAD}, (SELECT fingerprint FROM audit_keying WHERE id = 1)"
"""The chain head, the last id given and the key's fingerprint (None: unkeyed), in one query."""


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
    try:
        last, seq, keyed = conn.execute(_HEAD_KEYED).fetchone()
    except sqlite3.OperationalError as exc:
        if not keying_table_missing(exc):  # any other failure fails the command: never unkeyed
            raise
        # a file at a schema before audit_keying (migration tests)
        (last, seq), keyed = conn.execute(_HEAD).fetchone(), None
    prev_hash = GENESIS_HASH if last is None else str(last)
    row_id = (0 if seq is None else int(seq)) + 1
    before_text, after_text = canonical_json(before), canonical_json(after)
    row_hash = compute_row_hash(
        row_id, at, actor, command, reason, before_text, after_text, prev_hash
    )
    conn.execute(
        f"INSERT INTO audit ({_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (row_id, at, actor, command, reason, before_text, after_text, prev_hash, row_hash),
    )
    if keyed is not None:
        insert_mac(conn, row_id, row_hash)
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
    """Outcome of verifying the ledger: ``ok``, or what is broken, first problem per table.

    ``rows_checked``, ``first_broken_id`` and ``head`` describe the audit chain; ``problem`` is
    the first problem found (the chain's own when it is broken); ``problems`` has one line per
    table with problems, naming the row; ``tables`` counts the rows checked per table.
    """

    ok: bool
    rows_checked: int
    first_broken_id: int | None = None
    problem: str | None = None
    head: tuple[int, str] | None = None
    problems: tuple[str, ...] = ()
    tables: dict[str, int] = field(default_factory=dict, hash=False)
    keyed: str | None = None  # the fingerprint of the audit key the rows were checked with

    def __str__(self) -> str:
        if self.first_broken_id is not None:
            chain = f"audit chain broken at row {self.first_broken_id}: {self.problem}"
            others = self.problems[1:]
        else:
            chain = f"audit chain intact: {self.rows_checked} rows"
            chain += f", keyed (key {self.keyed})" if self.keyed else ", unkeyed"
            others = self.problems
        if self.ok:
            rows = ", ".join(f"{table} {count}" for table, count in self.tables.items())
            return f"{chain}; ledger rows intact ({rows})"
        if not others:
            return chain
        return "\n".join([f"{chain}; tampering found:", *(f"  {line}" for line in others)])


def verify_audit(
    conn: sqlite3.Connection,
    *,
    anchor: tuple[int, str] | None = None,
    key: bytes | None = None,
) -> AuditReport:
    """Verify the ledger in one read snapshot: the audit chain and its key MACs, then every
    table's rows.

    O(rows) with one sha256 (and one HMAC with ``key``) per row; the caller should hold a read
    transaction so that all tables are seen at the same moment. A keyed ledger checked without
    its key is not reported intact.
    """
    tally = AuditTally()
    broken_id, chain_problem, checked, head = _walk_chain(conn, anchor, tally)
    mac_id, mac_problem = check_macs(conn, key)
    if mac_id is not None and (broken_id is None or mac_id <= broken_id):
        broken_id, chain_problem = mac_id, mac_problem
        checked = min(checked, max(mac_id - 1, 0))
    table_problems, tables = check_rows(conn, None if broken_id is not None else tally)
    problems = ([f"audit row {broken_id}: {chain_problem}"] if broken_id is not None else []) + (
        table_problems
    )
    return AuditReport(
        ok=not problems,
        rows_checked=checked,
        first_broken_id=broken_id,
        problem=chain_problem if broken_id is not None else (problems[0] if problems else None),
        head=head,
        problems=tuple(problems),
        tables={"audit": checked, **tables},
        keyed=keyed_fingerprint(conn) if key is not None and mac_id is None else None,
    )


def _walk_chain(
    conn: sqlite3.Connection, anchor: tuple[int, str] | None, tally: AuditTally
) -> tuple[int | None, str | None, int, tuple[int, str] | None]:
    """Walk the chain in id order: (first broken id, problem, rows intact, head)."""
    expected_prev, prev_id, checked = GENESIS_HASH, 0, 0

    def intact_head() -> tuple[int, str] | None:
        return (prev_id, str(expected_prev)) if prev_id else None

    def broken(row_id: int, problem: str) -> tuple[int, str, int, tuple[int, str] | None]:
        return row_id, problem, checked, intact_head()

    for raw in conn.execute(f"SELECT {_COLUMNS} FROM audit ORDER BY id"):
        row_id, command, after, prev_hash, row_hash = raw[0], raw[3], raw[6], raw[7], raw[8]
        if row_id != prev_id + 1:
            first, last = prev_id + 1, row_id - 1
            gap = f"row {first} was" if first == last else f"rows {first}..{last} were"
            return broken(row_id, f"ids jump from {prev_id} to {row_id}: {gap} deleted")
        recomputed = _quick_row_hash(raw)
        if recomputed != row_hash:
            return broken(
                row_id,
                "row_hash does not match the row's content: the row was edited after it "
                f"was written (stored {str(row_hash)[:12]}..., content hashes to "
                f"{recomputed[:12]}...)",
            )
        if prev_hash != expected_prev:
            return broken(
                row_id,
                f"prev_hash does not match the row_hash of row {prev_id}: the chain was "
                "rewritten or rows were removed or inserted before this one",
            )
        tally.note(row_id, command, after)
        expected_prev, prev_id = row_hash, row_id
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
    return None, None, checked, intact_head()


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
