"""Users on a real ledger file with real argon2id: passwords, lockout, expiry, sessions, tokens.

The ledger's clock is the test's, so idle timeouts, lockouts and expiry are reached by moving
it, never by waiting. Every refusal names its reason, is audited, and changes nothing else.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from linectl.config import IdentitySection
from linectl.identity import (
    AuthenticationFailed,
    Identity,
    PasswordExpired,
    Permission,
    PermissionDenied,
    PolicyViolation,
    Principal,
)
from linectl.identity.principal import secret_digest
from linectl.ledger import Ledger
from tests.people import new_password

POLICY = IdentitySection(
    lockout_attempts=3,
    lockout_minutes=10,
    session_idle_minutes=15,
    password_expiry_days=90,
    password_history=2,
)


class Clock:
    def __init__(self) -> None:
        self.now = datetime(2026, 12, 1, 8, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **kw: float) -> None:
        self.now += timedelta(**kw)


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def ledger(tmp_path: Path, clock: Clock) -> Iterator[Ledger]:
    with Ledger(tmp_path / "line.db", clock=clock) as ledger:
        yield ledger


@pytest.fixture
def identity(ledger: Ledger) -> Identity:
    return Identity(ledger, POLICY)


@pytest.fixture
def admin(identity: Identity) -> Principal:
    user = identity.bootstrap_admin("admin", "Ada Admin", new_password(), one_time=False)
    return Principal(user.id, user.name, user.full_name, user.role, "test")


def person(identity: Identity, admin: Principal, name: str, role: str) -> str:
    """A user who has chosen their own password (the admin's first one is expired)."""
    first, chosen = new_password(), new_password()
    identity.add_user(admin, name, role, name.title(), first)
    with pytest.raises(PasswordExpired):
        identity.login(name, first)
    identity.change_password(name, first, chosen)
    return chosen


def audit(ledger: Ledger, command: str) -> list[dict[str, object]]:
    return [
        json.loads(e.after) | {"actor": e.actor, "reason": e.reason}
        for e in ledger.audit_entries(limit=10_000)
        if e.command == command
    ]


def test_passwords_are_stored_as_argon2id_and_never_in_clear(
    identity: Identity, admin: Principal, ledger: Ledger
) -> None:
    password = person(identity, admin, "op.eve", "operator")
    with ledger.identity.read() as rows:
        eve = rows.user("op.eve")
        history = rows.recent_passwords(eve.id, 5) if eve else []
    assert eve is not None and eve.password_hash is not None
    assert eve.password_hash.startswith("$argon2id$v=19$")
    assert all(h.startswith("$argon2id$") for h in history) and len(history) == 2
    raw = Path(ledger.path).read_bytes() + Path(f"{ledger.path}-wal").read_bytes()
    assert password.encode() not in raw


def test_lockout_after_n_failures_refuses_even_the_right_password_until_it_ends(
    identity: Identity, admin: Principal, ledger: Ledger, clock: Clock
) -> None:
    password = person(identity, admin, "op.eve", "operator")
    for attempt in range(1, 4):
        with pytest.raises(AuthenticationFailed) as wrong:
            identity.login("op.eve", "not-the-password-" + str(attempt))
        assert wrong.value.reason == "wrong-password"
    assert "locked for 10 min" in wrong.value.message
    with pytest.raises(AuthenticationFailed) as locked:
        identity.login("op.eve", password)
    assert (
        locked.value.reason == "locked" and "locked after 3 failed attempts" in locked.value.message
    )
    failed = audit(ledger, "login.failed")
    assert [f["reason"] for f in failed] == ["wrong-password"] * 3 + ["locked"]
    assert failed[2]["locked"] is True and failed[0]["actor"] == "op.eve"
    clock.advance(minutes=10, seconds=1)
    principal, _ = identity.login("op.eve", password)
    assert principal.name == "op.eve"


def test_an_idle_session_expires_and_stays_ended(
    identity: Identity, admin: Principal, ledger: Ledger, clock: Clock
) -> None:
    password = person(identity, admin, "op.eve", "operator")
    _, token = identity.login("op.eve", password)
    clock.advance(minutes=14)
    assert identity.resolve(token).name == "op.eve"  # used: the idle time starts again
    clock.advance(minutes=15, seconds=1)
    with pytest.raises(AuthenticationFailed) as idle:
        identity.resolve(token)
    assert idle.value.reason == "session-idle" and "15 min idle" in idle.value.message
    clock.advance(seconds=1)
    with pytest.raises(AuthenticationFailed) as again:
        identity.resolve(token)
    assert again.value.reason == "session-ended"
    assert [f["reason"] for f in audit(ledger, "login.failed")] == ["session-idle", "session-ended"]


def test_a_revoked_machine_token_is_refused_at_once(
    identity: Identity, admin: Principal, ledger: Ledger
) -> None:
    identity.add_user(admin, "mes", "machine", "MES", None)
    token_id, token = identity.create_token(admin, "mes", "mes-bridge")
    assert identity.resolve(token).name == "mes"
    identity.revoke_token(admin, token_id)
    with pytest.raises(AuthenticationFailed) as refused:
        identity.resolve(token)
    assert refused.value.reason == "token-revoked"
    ((owner, row),) = identity.tokens(admin, "mes")
    assert owner == "mes" and row.ended_at is not None and row.last_used_at is not None
    with ledger.identity.read() as rows:  # the ledger holds the token's SHA-256, not the token
        assert rows.token(secret_digest(token)) is not None
    assert token.encode() not in Path(ledger.path).read_bytes()


def test_an_expired_machine_token_is_refused(
    ledger: Ledger, admin: Principal, clock: Clock
) -> None:
    identity = Identity(ledger, POLICY.model_copy(update={"token_expiry_days": 30}))
    identity.add_user(admin, "mes", "machine", "MES", None)
    _, token = identity.create_token(admin, "mes")
    clock.advance(days=30)
    with pytest.raises(AuthenticationFailed) as refused:
        identity.resolve(token)
    assert refused.value.reason == "token-expired"


def test_a_password_expires_after_the_policys_days(
    identity: Identity, admin: Principal, clock: Clock
) -> None:
    password = person(identity, admin, "op.eve", "operator")
    clock.advance(days=91)
    with pytest.raises(PasswordExpired):
        identity.login("op.eve", password)
    fresh = new_password()
    identity.change_password("op.eve", password, fresh)
    assert identity.login("op.eve", fresh)[0].name == "op.eve"


def test_the_last_passwords_may_not_be_reused_and_short_ones_are_refused(
    identity: Identity, admin: Principal
) -> None:
    password = person(identity, admin, "op.eve", "operator")
    with pytest.raises(PolicyViolation, match="used before"):
        identity.change_password("op.eve", password, password)
    with pytest.raises(PolicyViolation, match="at least 12"):
        identity.change_password("op.eve", password, "short")


def test_unknown_and_disabled_users_are_refused_with_the_reason_audited(
    identity: Identity, admin: Principal, ledger: Ledger
) -> None:
    password = person(identity, admin, "op.eve", "operator")
    _, token = identity.login("op.eve", password)
    with pytest.raises(AuthenticationFailed) as unknown:
        identity.login("op.nobody", password)
    assert unknown.value.reason == "unknown-user"
    identity.set_enabled(admin, "op.eve", False)
    with pytest.raises(AuthenticationFailed) as disabled:
        identity.login("op.eve", password)
    assert disabled.value.reason == "disabled"
    with pytest.raises(AuthenticationFailed):  # the disable ended her session too
        identity.resolve(token)
    reasons = [f["reason"] for f in audit(ledger, "login.failed")]
    assert reasons[:2] == ["unknown-user", "disabled"]
    assert [a["actor"] for a in audit(ledger, "user.disable")] == ["admin"]


def test_only_an_admin_administers_users_and_the_refusal_is_audited(
    identity: Identity, admin: Principal, ledger: Ledger
) -> None:
    password = person(identity, admin, "op.eve", "operator")
    eve, _ = identity.login("op.eve", password)
    with pytest.raises(PermissionDenied, match=r"op\.eve \(role operator\) may not"):
        identity.add_user(eve, "op.mallory", "admin", "Mallory", new_password())
    with pytest.raises(PermissionDenied):
        identity.require(eve, Permission.USER_ADMIN, "list users")
    refused = audit(ledger, "refused")
    assert [r["actor"] for r in refused] == ["op.eve"] and refused[0]["command"] == "user.admin"
    with ledger.identity.read() as rows:
        assert rows.user("op.mallory") is None


def test_users_are_never_deleted(identity: Identity, admin: Principal, ledger: Ledger) -> None:
    person(identity, admin, "op.eve", "operator")
    conn = sqlite3.connect(ledger.path)
    try:
        with pytest.raises(sqlite3.IntegrityError, match="never deleted"):
            conn.execute("DELETE FROM users WHERE name = 'op.eve'")
    finally:
        conn.close()
