"""Identity rows: users, password history, sessions, API tokens, signatures (SQL only).

The rules (policy, lockout, the permission matrix) live in ``linectl.identity``; this module only
reads and writes rows, inside transactions that also append the audit row of the change, so a
user change and its record are one commit. Secrets never arrive here in clear: passwords as
argon2id hashes, tokens as their SHA-256.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from linectl.ledger.audit import AuditEntry, append_audit
from linectl.ledger.audit_keys import attach_key, keyed_fingerprint
from linectl.ledger.connection import LedgerConnection

_USER_COLUMNS = (
    "id, name, full_name, role, source, password_hash, password_changed_at, password_expired, "
    "enabled, failed_attempts, locked_until, created_at"
)


@dataclass(frozen=True)
class UserRow:
    """One user as stored; ``password_hash`` is argon2id text or None (machine, directory)."""

    id: int
    name: str
    full_name: str
    role: str
    source: str
    password_hash: str | None
    password_changed_at: str | None
    password_expired: bool
    enabled: bool
    failed_attempts: int
    locked_until: str | None
    created_at: str


@dataclass(frozen=True)
class TokenRow:
    """A session or an API token as stored (never the token itself)."""

    id: int
    user_id: int
    label: str
    created_at: str
    last_used_at: str | None
    ended_at: str | None  # sessions: ended; API tokens: revoked
    expires_at: str | None


@dataclass(frozen=True)
class SignatureRow:
    """An electronic signature as stored."""

    id: int
    user_name: str
    printed_name: str
    at: str
    meaning: str
    action: str
    subject: str
    record_sha256: str
    audit_id: int


def _user(row: tuple[Any, ...]) -> UserRow:
    return UserRow(
        int(row[0]),
        str(row[1]),
        str(row[2]),
        str(row[3]),
        str(row[4]),
        row[5],
        row[6],
        bool(row[7]),
        bool(row[8]),
        int(row[9]),
        row[10],
        str(row[11]),
    )


class IdentityRows:
    """Queries and changes on one connection inside one transaction (see IdentityStore)."""

    def __init__(self, conn: sqlite3.Connection, now: str) -> None:
        self.conn = conn
        self.now = now

    # -- users -----------------------------------------------------------------------------------

    def user(self, name: str) -> UserRow | None:
        row = self.conn.execute(
            f"SELECT {_USER_COLUMNS} FROM users WHERE name = ?", (name,)
        ).fetchone()
        return _user(row) if row else None

    def user_by_id(self, user_id: int) -> UserRow | None:
        row = self.conn.execute(
            f"SELECT {_USER_COLUMNS} FROM users WHERE id = ?", (user_id,)
        ).fetchone()
        return _user(row) if row else None

    def users(self) -> list[UserRow]:
        return [
            _user(r) for r in self.conn.execute(f"SELECT {_USER_COLUMNS} FROM users ORDER BY id")
        ]

    def count_users(self) -> int:
        return int(self.conn.execute("SELECT count(*) FROM users").fetchone()[0])

    def insert_user(
        self, name: str, full_name: str, role: str, source: str, password_hash: str | None
    ) -> UserRow:
        cursor = self.conn.execute(
            "INSERT INTO users (name, full_name, role, source, password_hash, "
            "password_changed_at, created_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
            (
                name,
                full_name,
                role,
                source,
                password_hash,
                self.now if password_hash else None,
                self.now,
            ),
        )
        if password_hash:
            self._remember(int(cursor.lastrowid or 0), password_hash)
        found = self.user(name)
        assert found is not None
        return found

    def update_user(self, user_id: int, **fields: object) -> None:
        """Set columns of a user (role, full_name, enabled, password_expired, ...)."""
        allowed = {
            "role",
            "full_name",
            "enabled",
            "password_expired",
            "failed_attempts",
            "locked_until",
            "source",
        }
        bad = set(fields) - allowed
        if bad:
            raise ValueError(f"update_user: cannot set {sorted(bad)}")
        assignments = ", ".join(f"{name} = ?" for name in fields)
        self.conn.execute(
            f"UPDATE users SET {assignments} WHERE id = ?", (*fields.values(), user_id)
        )

    def set_password(self, user_id: int, password_hash: str, *, expired: bool) -> None:
        self.conn.execute(
            "UPDATE users SET password_hash = ?, password_changed_at = ?, password_expired = ?, "
            "failed_attempts = 0, locked_until = NULL WHERE id = ?",
            (password_hash, self.now, int(expired), user_id),
        )
        self._remember(user_id, password_hash)

    def _remember(self, user_id: int, password_hash: str) -> None:
        self.conn.execute(
            "INSERT INTO password_history (user_id, password_hash, set_at) VALUES (?, ?, ?)",
            (user_id, password_hash, self.now),
        )

    def recent_passwords(self, user_id: int, n: int) -> list[str]:
        """The hashes of the user's last ``n`` passwords, newest first."""
        rows = self.conn.execute(
            "SELECT password_hash FROM password_history WHERE user_id = ? ORDER BY id DESC LIMIT ?",
            (user_id, n),
        )
        return [str(r[0]) for r in rows]

    # -- sessions and API tokens -----------------------------------------------------------------

    def insert_session(self, user_id: int, token_sha256: str) -> int:
        cursor = self.conn.execute(
            "INSERT INTO sessions (user_id, token_sha256, created_at, last_used_at) "
            "VALUES (?, ?, ?, ?)",
            (user_id, token_sha256, self.now, self.now),
        )
        return int(cursor.lastrowid or 0)

    def session(self, token_sha256: str) -> TokenRow | None:
        row = self.conn.execute(
            "SELECT id, user_id, 'session', created_at, last_used_at, ended_at, NULL "
            "FROM sessions WHERE token_sha256 = ?",
            (token_sha256,),
        ).fetchone()
        return TokenRow(*row) if row else None

    def touch_session(self, session_id: int) -> None:
        self.conn.execute(
            "UPDATE sessions SET last_used_at = ? WHERE id = ?", (self.now, session_id)
        )

    def end_session(self, session_id: int, why: str) -> None:
        self.conn.execute(
            "UPDATE sessions SET ended_at = ?, ended_why = ? WHERE id = ? AND ended_at IS NULL",
            (self.now, why, session_id),
        )

    def end_sessions_of(self, user_id: int, why: str) -> None:
        self.conn.execute(
            "UPDATE sessions SET ended_at = ?, ended_why = ? "
            "WHERE user_id = ? AND ended_at IS NULL",
            (self.now, why, user_id),
        )

    def insert_token(
        self, user_id: int, label: str, token_sha256: str, expires_at: str | None
    ) -> int:
        cursor = self.conn.execute(
            "INSERT INTO api_tokens (user_id, label, token_sha256, created_at, expires_at) "
            "VALUES (?, ?, ?, ?, ?)",
            (user_id, label, token_sha256, self.now, expires_at),
        )
        return int(cursor.lastrowid or 0)

    def token(self, token_sha256: str) -> TokenRow | None:
        row = self.conn.execute(
            "SELECT id, user_id, label, created_at, last_used_at, revoked_at, expires_at "
            "FROM api_tokens WHERE token_sha256 = ?",
            (token_sha256,),
        ).fetchone()
        return TokenRow(*row) if row else None

    def tokens(self, user_id: int | None = None) -> list[TokenRow]:
        where = "" if user_id is None else " WHERE user_id = ?"
        rows = self.conn.execute(
            "SELECT id, user_id, label, created_at, last_used_at, revoked_at, expires_at "
            f"FROM api_tokens{where} ORDER BY id",
            () if user_id is None else (user_id,),
        )
        return [TokenRow(*r) for r in rows]

    def touch_token(self, token_id: int) -> None:
        self.conn.execute(
            "UPDATE api_tokens SET last_used_at = ? WHERE id = ?", (self.now, token_id)
        )

    def revoke_token(self, token_id: int) -> bool:
        cursor = self.conn.execute(
            "UPDATE api_tokens SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL",
            (self.now, token_id),
        )
        return cursor.rowcount == 1

    # -- signatures ------------------------------------------------------------------------------

    def insert_signature(
        self,
        user: UserRow,
        meaning: str,
        action: str,
        subject: str,
        record_sha256: str,
        audit_id: int,
    ) -> SignatureRow:
        cursor = self.conn.execute(
            "INSERT INTO signatures (user_id, user_name, printed_name, at, meaning, action, "
            "subject, record_sha256, audit_id) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                user.id,
                user.name,
                user.full_name,
                self.now,
                meaning,
                action,
                subject,
                record_sha256,
                audit_id,
            ),
        )
        return SignatureRow(
            int(cursor.lastrowid or 0),
            user.name,
            user.full_name,
            self.now,
            meaning,
            action,
            subject,
            record_sha256,
            audit_id,
        )

    def signatures(
        self, action: str | None = None, subject: str | None = None
    ) -> list[SignatureRow]:
        rows = self.conn.execute(
            "SELECT id, user_name, printed_name, at, meaning, action, subject, record_sha256, "
            "audit_id FROM signatures WHERE (?1 IS NULL OR action = ?1) "
            "AND (?2 IS NULL OR subject = ?2) ORDER BY id",
            (action, subject),
        )
        return [SignatureRow(*r) for r in rows]

    def actors_of(self, batch: str, commands: tuple[str, ...]) -> set[str]:
        """Who recorded ``commands`` (e.g. work_order.start) on ``batch`` in the audit trail."""
        marks = ", ".join("?" for _ in commands)
        rows = self.conn.execute(
            f"SELECT DISTINCT actor FROM audit WHERE command IN ({marks}) "
            "AND (json_extract(after, '$.batch') = ? OR json_extract(before, '$.batch') = ?)",
            (*commands, batch, batch),
        )
        return {str(r[0]) for r in rows}

    # -- audit -----------------------------------------------------------------------------------

    def audit(
        self,
        actor: str,
        command: str,
        reason: str = "",
        before: object = None,
        after: object = None,
    ) -> AuditEntry:
        return append_audit(
            self.conn,
            at=self.now,
            actor=actor,
            command=command,
            reason=reason,
            before=before,
            after=after,
        )


class IdentityStore:
    """``ledger.identity``: identity transactions on the ledger's connection."""

    def __init__(self, db: LedgerConnection) -> None:
        self._db = db

    @contextmanager
    def write(self) -> Iterator[IdentityRows]:
        """One ``BEGIN IMMEDIATE`` transaction; an exception rolls back everything in it."""
        with self._db.write() as conn:
            yield IdentityRows(conn, self._db.now())

    @contextmanager
    def read(self) -> Iterator[IdentityRows]:
        with self._db.read() as conn:
            yield IdentityRows(conn, self._db.now())

    def attach_audit_key(self, key: bytes, *, create: bool = False) -> int:
        """Give this Ledger the audit key: checked against a keyed trail (its rows then carry a
        MAC), or keying an unkeyed trail when ``create``. Returns the rows keyed now."""
        with self._db.write() as conn:
            keyed = attach_key(conn, key, self._db.now(), create=create)
        self._db.audit_key = key  # the whole-ledger checks (start, acknowledge) verify the MACs
        return keyed

    def keyed(self) -> str | None:
        """The fingerprint of the audit key this ledger is keyed with, None if unkeyed."""
        with self._db.read() as conn:
            return keyed_fingerprint(conn)


def find_audit(
    rows: IdentityRows,
    *,
    actor: str | None = None,
    since: str | None = None,
    batch: str | None = None,
    command: str | None = None,
    limit: int = 1000,
    newest_first: bool = False,
) -> list[AuditEntry]:
    """Audit rows, oldest first (or newest first), filtered by actor, time (ISO text, >=),
    batch mentioned and command."""
    order = "DESC" if newest_first else "ASC"
    found = rows.conn.execute(
        "SELECT id, at, actor, command, reason, before, after, prev_hash, row_hash FROM audit "
        "WHERE (?1 IS NULL OR actor = ?1) AND (?2 IS NULL OR at >= ?2) AND (?3 IS NULL OR "
        "json_extract(after, '$.batch') = ?3 OR json_extract(before, '$.batch') = ?3 OR "
        "json_extract(after, '$.subject') = ?3) AND (?5 IS NULL OR command = ?5) "
        f"ORDER BY id {order} LIMIT ?4",
        (actor, since, batch, limit, command),
    )
    return [AuditEntry(*row) for row in found]
