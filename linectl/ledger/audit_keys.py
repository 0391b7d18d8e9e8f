"""The audit trail's key: an HMAC-SHA256 over each row's chain hash, with a key kept outside.

The unkeyed chain (``linectl.ledger.audit``) detects an edit, but anyone holding the file can
recompute it with the public hash function. Each audit row therefore also gets
``mac = HMAC-SHA256(key, row_hash)`` in ``audit_macs``; the key lives in a file readable only by
the service user (or a systemd credential), never in the ledger. ``audit_keying`` records the
key's fingerprint, so a connection without the key cannot append rows to a keyed trail, and a
wrong key is refused at once. The MAC is computed inside SQLite by a function registered on the
connection that holds the key (:func:`attach_key`), so ``append_audit`` needs no key argument.
"""

from __future__ import annotations

import hashlib
import hmac
import sqlite3

from linectl.ledger.errors import LedgerError

MAC_FUNCTION = "linectl_audit_mac"
_FINGERPRINT_LABEL = b"linectl audit key fingerprint v1"


class AuditKeyError(LedgerError):
    """The audit key is missing, wrong, or the trail cannot be keyed."""


def fingerprint(key: bytes) -> str:
    """A public name of the key (HMAC of a fixed label): tells keys apart, reveals nothing."""
    return hmac.new(key, _FINGERPRINT_LABEL, hashlib.sha256).hexdigest()[:16]


def row_mac(key: bytes, row_hash: str) -> str:
    """The MAC of one audit row: HMAC-SHA256(key, row_hash) in hex."""
    return hmac.new(key, row_hash.encode("ascii"), hashlib.sha256).hexdigest()


def keyed_fingerprint(conn: sqlite3.Connection) -> str | None:
    """The fingerprint of the key this ledger's trail is keyed with, or None if unkeyed."""
    try:
        row = conn.execute("SELECT fingerprint FROM audit_keying WHERE id = 1").fetchone()
    except sqlite3.OperationalError as exc:
        if not keying_table_missing(exc):  # not "unkeyed": an error is no answer
            raise
        return None  # a file opened at an older schema (tests of migrations)
    return str(row[0]) if row else None


def keying_table_missing(exc: sqlite3.OperationalError) -> bool:
    """Whether ``exc`` says the file has no ``audit_keying`` table (a schema before keying);
    any other error (I/O, interrupted, locked) says nothing about whether the trail is keyed."""
    return str(exc) == "no such table: audit_keying"


def register(conn: sqlite3.Connection, key: bytes) -> None:
    """Give ``conn`` the MAC function, so its audit rows are keyed (``row_mac``, with the key
    schedule computed once: each row's MAC continues a copy of it)."""
    keyed = hmac.new(key, digestmod=hashlib.sha256)

    def mac(row_hash: object) -> str:
        h = keyed.copy()
        h.update(str(row_hash).encode("ascii"))
        return h.hexdigest()

    conn.create_function(MAC_FUNCTION, 1, mac, deterministic=True)


def attach_key(conn: sqlite3.Connection, key: bytes, at: str, *, create: bool) -> int:
    """Check the key of a keyed trail, or key an unkeyed one when ``create``; return how many
    rows got a MAC now.

    Runs inside the caller's write transaction. When keying, every row already written is given
    its MAC: an edit made before the ledger was keyed becomes part of what is keyed.
    """
    register(conn, key)
    known = keyed_fingerprint(conn)
    if known is None and not create:
        return 0
    mine = fingerprint(key)
    if known is not None and not hmac.compare_digest(known, mine):
        raise AuditKeyError(
            f"the audit key (fingerprint {mine}) is not the key of this ledger "
            f"(fingerprint {known}): use the key file created by 'linectl ledger init'"
        )
    if known is None:
        conn.execute(
            "INSERT INTO audit_keying (id, fingerprint, keyed_at) VALUES (1, ?, ?)", (mine, at)
        )
    cursor = conn.execute(
        f"INSERT INTO audit_macs (audit_id, mac) SELECT a.id, {MAC_FUNCTION}(a.row_hash) "
        "FROM audit a LEFT JOIN audit_macs m ON m.audit_id = a.id WHERE m.audit_id IS NULL"
        + (" AND 0" if known is not None else "")
    )
    return int(cursor.rowcount)


def insert_mac(conn: sqlite3.Connection, row_id: int, row_hash: str) -> None:
    """Key a new audit row of a trail known to be keyed; refuse if this connection lacks the key."""
    try:
        conn.execute(
            f"INSERT INTO audit_macs (audit_id, mac) VALUES (?, {MAC_FUNCTION}(?))",
            (row_id, row_hash),
        )
    except sqlite3.OperationalError as exc:
        if MAC_FUNCTION not in str(exc):
            raise
        raise AuditKeyError(
            "this ledger's audit trail is keyed and this program was not given the key: "
            "set [identity] audit_key_file (or keep audit.key beside the ledger) and make it "
            "readable by this user"
        ) from None


def check_macs(conn: sqlite3.Connection, key: bytes | None) -> tuple[int | None, str | None]:
    """(first audit row whose MAC is wrong or missing, why), or (None, None) if all are keyed.

    Without a key, a keyed ledger cannot be checked (and that is reported); an unkeyed ledger
    with a key given means the keys were removed (or the ledger was never keyed).
    """
    known = keyed_fingerprint(conn)
    if key is None:
        if known is None:
            return None, None
        return 0, f"the trail is keyed (fingerprint {known}) but no audit key was given"
    if known is None:
        return 0, (
            "the trail carries no key although an audit key is configured: the keys were "
            "removed, or this ledger was never keyed ('linectl ledger init' keys it)"
        )
    if not hmac.compare_digest(known, fingerprint(key)):
        return 0, f"the audit key given is not this ledger's (fingerprint {known})"
    rows = conn.execute(
        "SELECT a.id, a.row_hash, m.mac FROM audit a "
        "LEFT JOIN audit_macs m ON m.audit_id = a.id ORDER BY a.id"
    )
    for row_id, row_hash, mac in rows:
        if mac is None:
            return int(row_id), "the row has no key MAC: it was added without the audit key"
        if not hmac.compare_digest(str(mac), row_mac(key, str(row_hash))):
            return int(row_id), (
                "the row's key MAC does not match its hash: the row was rewritten and the "
                "chain recomputed by someone without the audit key"
            )
    return None, None
