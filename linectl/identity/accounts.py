"""Users, logins, lockout, sessions and API tokens: the identity service over the ledger.

Every refusal is audited (failed logins included) and changes nothing else but the failure
count that drives the lockout. Times come from the ledger's clock, so tests can move it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol

from linectl.config import IdentitySection
from linectl.identity.errors import (
    AuthenticationFailed,
    IdentityError,
    PasswordExpired,
    PolicyViolation,
)
from linectl.identity.matrix import Permission, Role
from linectl.identity.passwords import (
    check_new_password,
    hash_password,
    needs_rehash,
    verify_password,
)
from linectl.identity.principal import (
    SESSION_PREFIX,
    TOKEN_PREFIX,
    Principal,
    new_secret,
    secret_digest,
)
from linectl.ledger import Ledger
from linectl.ledger.identity_rows import IdentityRows, TokenRow, UserRow

_NAME = re.compile(r"^[a-z0-9][a-z0-9._-]{0,63}$")
_TOUCH_EVERY = timedelta(seconds=10)  # last use is written at most this often per credential
BOOTSTRAP_ACTOR = "ledger-init"


@dataclass(frozen=True)
class DirectoryUser:
    """A user the directory vouched for: name, printed name and the role its groups map to."""

    name: str
    full_name: str
    role: str


class Directory(Protocol):
    """A directory (LDAP / Active Directory) that checks a password and maps groups to a role."""

    def authenticate(self, name: str, password: str) -> DirectoryUser: ...


def _time(text: str) -> datetime:
    return datetime.fromisoformat(text)


def _principal(user: UserRow, via: str, credential_id: int | None = None) -> Principal:
    return Principal(user.id, user.name, user.full_name, user.role, via, credential_id)


def check_name(name: str) -> str:
    if not _NAME.match(name):
        raise PolicyViolation(
            f"user name {name!r}: use 1-64 lower-case letters, digits, '.', '_' or '-', "
            "starting with a letter or digit"
        )
    return name


def check_role(role: str) -> Role:
    try:
        return Role(role)
    except ValueError:
        raise PolicyViolation(
            f"unknown role {role!r} (one of: {', '.join(r.value for r in Role)})"
        ) from None


class Identity:
    """The identity service of one ledger (see the module docstring)."""

    def __init__(
        self, ledger: Ledger, policy: IdentitySection, directory: Directory | None = None
    ) -> None:
        self.ledger = ledger
        self.policy = policy
        self.directory = directory

    # -- users -----------------------------------------------------------------------------------

    def has_users(self) -> bool:
        with self.ledger.identity.read() as rows:
            return rows.count_users() > 0

    def bootstrap_admin(
        self, name: str, full_name: str, password: str, *, one_time: bool
    ) -> UserRow:
        """The first admin (only while the ledger has no user); a one-time secret is expired at
        once, so the first login chooses a real password."""
        check_name(name)
        check_new_password(self.policy, name, password, [])
        password_hash = hash_password(password)
        with self.ledger.identity.write() as rows:
            if rows.count_users():
                raise PolicyViolation("the ledger already has users; the first admin exists")
            user = rows.insert_user(name, full_name or name, Role.ADMIN, "local", password_hash)
            if one_time:
                rows.update_user(user.id, password_expired=1)
            rows.audit(BOOTSTRAP_ACTOR, "user.add", "first admin", None, _public(user))
        return user

    def add_user(
        self, by: Principal, name: str, role: str, full_name: str, password: str | None
    ) -> UserRow:
        """A new user; a person's first password is expired (they choose their own at login);
        a machine account has no password, only API tokens."""
        by.require(Permission.USER_ADMIN, "add users")
        check_name(name)
        checked = check_role(role)
        machine = checked is Role.MACHINE
        if not machine and password is None:
            raise PolicyViolation(f"{name}: a person needs a first password")
        if password is not None:
            check_new_password(self.policy, name, password, [])
        password_hash = None if machine or password is None else hash_password(password)
        with self.ledger.identity.write() as rows:
            if rows.user(name) is not None:
                raise PolicyViolation(f"user {name} exists (users are never deleted)")
            source = "machine" if machine else "local"
            user = rows.insert_user(name, full_name or name, checked, source, password_hash)
            if password_hash:
                rows.update_user(user.id, password_expired=1)
            rows.audit(by.name, "user.add", "", None, _public(user))
        return user

    def _change(self, by: Principal, name: str, command: str, **fields: object) -> UserRow:
        by.require(Permission.USER_ADMIN, "administer users")
        with self.ledger.identity.write() as rows:
            user = self._existing(rows, name)
            rows.update_user(user.id, **fields)
            if fields.get("enabled") == 0:
                rows.end_sessions_of(user.id, "account disabled")
            after = rows.user_by_id(user.id)
            assert after is not None
            rows.audit(by.name, command, "", _public(user), _public(after))
        return after

    def set_role(self, by: Principal, name: str, role: str) -> UserRow:
        checked = check_role(role)
        if by.name == name:
            raise PolicyViolation("nobody may change their own role")
        return self._change(by, name, "user.role", role=checked.value)

    def set_enabled(self, by: Principal, name: str, enabled: bool) -> UserRow:
        if by.name == name and not enabled:
            raise PolicyViolation("nobody may disable their own account")
        if enabled:
            return self._change(
                by, name, "user.enable", enabled=1, failed_attempts=0, locked_until=None
            )
        return self._change(by, name, "user.disable", enabled=0)

    def reset_password(self, by: Principal, name: str, password: str) -> UserRow:
        """A new password set by an admin: expired at once, lockout cleared, sessions ended."""
        by.require(Permission.USER_ADMIN, "reset passwords")
        with self.ledger.identity.read() as rows:
            user = self._existing(rows, name)
            history = rows.recent_passwords(user.id, self.policy.password_history)
        if user.source != "local":
            raise PolicyViolation(f"{name} is a {user.source} account: it has no local password")
        check_new_password(self.policy, name, password, history)
        password_hash = hash_password(password)
        with self.ledger.identity.write() as rows:
            rows.set_password(user.id, password_hash, expired=True)
            rows.end_sessions_of(user.id, "password reset")
            rows.audit(
                by.name,
                "user.reset-password",
                "",
                {"user": name},
                {"user": name, "password_expired": True},
            )
        return user

    def change_password(self, name: str, old: str, new: str) -> UserRow:
        """The user's own change: the old password (even expired) proves who it is."""
        user = self.authenticate(name, old, allow_expired=True, purpose="password change")
        with self.ledger.identity.read() as rows:
            history = rows.recent_passwords(user.id, self.policy.password_history)
        check_new_password(self.policy, name, new, history)
        password_hash = hash_password(new)
        with self.ledger.identity.write() as rows:
            rows.set_password(user.id, password_hash, expired=False)
            rows.audit(name, "user.password", "", None, {"user": name})
        return user

    def users(self, by: Principal) -> list[UserRow]:
        by.require(Permission.USER_ADMIN, "list users")
        with self.ledger.identity.read() as rows:
            return rows.users()

    @staticmethod
    def _existing(rows: IdentityRows, name: str) -> UserRow:
        user = rows.user(name)
        if user is None:
            raise PolicyViolation(f"no user {name!r}")
        return user

    def require(self, by: Principal, permission: Permission, what: str = "") -> Principal:
        """``by`` if its role has ``permission``; else the refusal is audited and raised."""
        if not by.may(permission):
            try:
                by.require(permission, what)
            except IdentityError as exc:
                self.audit_refusal(by.name, permission.value, exc)
                raise
        return by

    def audit_refusal(self, name: str, command: str, exc: IdentityError) -> None:
        """Record a refused action (permission, signature) in the audit trail."""
        with self.ledger.identity.write() as rows:
            rows.audit(
                name or "(none)",
                "refused",
                exc.reason,
                None,
                {"command": command, "why": exc.message},
            )

    # -- passwords, lockout ----------------------------------------------------------------------

    def _refuse(self, name: str, reason: str, message: str, purpose: str) -> AuthenticationFailed:
        with self.ledger.identity.write() as rows:
            rows.audit(
                name or "(none)",
                "login.failed",
                reason,
                None,
                {"user": name, "purpose": purpose, "why": message},
            )
        return AuthenticationFailed(reason, message)

    def authenticate(
        self, name: str, password: str, *, allow_expired: bool = False, purpose: str = "login"
    ) -> UserRow:
        """The user whose password this is; refusals are audited and counted for lockout."""
        with self.ledger.identity.read() as rows:
            user = rows.user(name)
            now = _time(rows.now)
        if user is None or user.source == "directory":
            if self.directory is not None:
                return self._directory_login(name, password, purpose)
            raise self._refuse(name, "unknown-user", f"no user {name!r}", purpose)
        if not user.enabled:
            raise self._refuse(name, "disabled", f"the account {name} is disabled", purpose)
        if user.locked_until and _time(user.locked_until) > now:
            raise self._refuse(
                name,
                "locked",
                f"the account {name} is locked after {self.policy.lockout_attempts} failed "
                f"attempts until {user.locked_until}",
                purpose,
            )
        if user.source == "machine":
            raise self._refuse(
                name,
                "machine-account",
                f"{name} is a machine account: it authenticates with an API token",
                purpose,
            )
        if not verify_password(user.password_hash, password):
            return self._wrong_password(user, now, purpose)
        with self.ledger.identity.write() as rows:
            if user.failed_attempts or user.locked_until:
                rows.update_user(user.id, failed_attempts=0, locked_until=None)
            if user.password_hash and needs_rehash(user.password_hash):
                rows.set_password(user.id, hash_password(password), expired=user.password_expired)
        if not allow_expired and self._expired(user, now):
            raise PasswordExpired(name)
        return user

    def _expired(self, user: UserRow, now: datetime) -> bool:
        if user.password_expired:
            return True
        days = self.policy.password_expiry_days
        changed = user.password_changed_at
        return bool(days and changed and now - _time(changed) > timedelta(days=days))

    def _wrong_password(self, user: UserRow, now: datetime, purpose: str) -> UserRow:
        failures = user.failed_attempts + 1
        locked = failures >= self.policy.lockout_attempts
        until = now + timedelta(minutes=self.policy.lockout_minutes)
        with self.ledger.identity.write() as rows:
            if locked:
                rows.update_user(
                    user.id,
                    failed_attempts=0,
                    locked_until=until.isoformat().replace("+00:00", "Z"),
                )
            else:
                rows.update_user(user.id, failed_attempts=failures)
            rows.audit(
                user.name,
                "login.failed",
                "wrong-password",
                None,
                {"user": user.name, "purpose": purpose, "failures": failures, "locked": locked},
            )
        tail = (
            f"; the account is now locked for {self.policy.lockout_minutes:g} min" if locked else ""
        )
        raise AuthenticationFailed("wrong-password", f"wrong password for {user.name}{tail}")

    def _directory_login(self, name: str, password: str, purpose: str) -> UserRow:
        assert self.directory is not None
        try:
            found = self.directory.authenticate(name, password)
        except AuthenticationFailed as exc:
            raise self._refuse(name, exc.reason, exc.message, purpose) from None
        with self.ledger.identity.write() as rows:
            user = rows.user(found.name)
            if user is None:
                user = rows.insert_user(found.name, found.full_name, found.role, "directory", None)
                rows.audit(found.name, "user.add", "first directory login", None, _public(user))
            elif not user.enabled:
                pass
            elif user.role != found.role or user.full_name != found.full_name:
                rows.update_user(user.id, role=found.role, full_name=found.full_name)
                rows.audit(
                    found.name,
                    "user.role",
                    "directory groups",
                    _public(user),
                    {"user": found.name, "role": found.role},
                )
                user = rows.user_by_id(user.id) or user
        if not user.enabled:
            raise self._refuse(name, "disabled", f"the account {name} is disabled", purpose)
        return user

    # -- sessions and tokens ---------------------------------------------------------------------

    def login(self, name: str, password: str) -> tuple[Principal, str]:
        """Check the password and open a session; returns the principal and the session token."""
        user = self.authenticate(name, password)
        token = new_secret(SESSION_PREFIX)
        with self.ledger.identity.write() as rows:
            session_id = rows.insert_session(user.id, secret_digest(token))
            rows.audit(user.name, "login", "", None, {"user": user.name, "session": session_id})
        return _principal(user, "session", session_id), token

    def logout(self, token: str) -> Principal | None:
        principal = self.resolve(token) if token.startswith(SESSION_PREFIX) else None
        if principal is not None and principal.credential_id is not None:
            with self.ledger.identity.write() as rows:
                rows.end_session(principal.credential_id, "logout")
                rows.audit(principal.name, "logout", "", None, {"session": principal.credential_id})
        return principal

    def resolve(self, token: str) -> Principal:
        """The user behind a session token or API token; refusals name the reason."""
        digest = secret_digest(token)
        with self.ledger.identity.read() as rows:
            now = _time(rows.now)
            if token.startswith(SESSION_PREFIX):
                row, kind = rows.session(digest), "session"
            elif token.startswith(TOKEN_PREFIX):
                row, kind = rows.token(digest), "token"
            else:
                row, kind = None, "token"
            user = rows.user_by_id(row.user_id) if row else None
        if row is None or user is None:
            raise self._refuse("", "unknown-token", f"unknown {kind}: log in again", "api")
        why = self._unusable(row, kind, user, now)
        if why is not None:
            if kind == "session" and row.ended_at is None:
                with self.ledger.identity.write() as rows:
                    rows.end_session(row.id, why[0])
            raise self._refuse(user.name, why[0], why[1], "api")
        if row.last_used_at is None or now - _time(row.last_used_at) >= _TOUCH_EVERY:
            with self.ledger.identity.write() as rows:
                (rows.touch_session if kind == "session" else rows.touch_token)(row.id)
        return _principal(user, kind, row.id)

    def _unusable(
        self, row: TokenRow, kind: str, user: UserRow, now: datetime
    ) -> tuple[str, str] | None:
        if not user.enabled:
            return "disabled", f"the account {user.name} is disabled"
        if kind == "session":
            if row.ended_at:
                return "session-ended", f"the session of {user.name} has ended: log in again"
            idle = timedelta(minutes=self.policy.session_idle_minutes)
            if row.last_used_at and now - _time(row.last_used_at) > idle:
                return "session-idle", (
                    f"the session of {user.name} expired after "
                    f"{self.policy.session_idle_minutes:g} min idle: log in again"
                )
            return None
        if row.ended_at:
            return "token-revoked", f"API token {row.id} of {user.name} was revoked"
        if row.expires_at and _time(row.expires_at) <= now:
            return "token-expired", f"API token {row.id} of {user.name} expired {row.expires_at}"
        return None

    def create_token(self, by: Principal, name: str, label: str = "") -> tuple[int, str]:
        """A new API token for ``name`` (shown once; the ledger keeps only its SHA-256)."""
        by.require(Permission.USER_ADMIN, "create API tokens")
        token = new_secret(TOKEN_PREFIX)
        with self.ledger.identity.write() as rows:
            user = self._existing(rows, name)
            days = self.policy.token_expiry_days
            expires = None
            if days:
                when = _time(rows.now) + timedelta(days=days)
                expires = when.isoformat(timespec="milliseconds").replace("+00:00", "Z")
            token_id = rows.insert_token(user.id, label or "api", secret_digest(token), expires)
            rows.audit(
                by.name,
                "token.create",
                label,
                None,
                {"user": name, "token": token_id, "expires_at": expires},
            )
        return token_id, token

    def revoke_token(self, by: Principal, token_id: int) -> None:
        by.require(Permission.USER_ADMIN, "revoke API tokens")
        with self.ledger.identity.write() as rows:
            if not rows.revoke_token(token_id):
                raise PolicyViolation(f"no API token {token_id}, or it is already revoked")
            rows.audit(
                by.name,
                "token.revoke",
                "",
                {"token": token_id},
                {"token": token_id, "revoked": True},
            )

    def tokens(self, by: Principal, name: str | None = None) -> list[tuple[str, TokenRow]]:
        by.require(Permission.USER_ADMIN, "list API tokens")
        with self.ledger.identity.read() as rows:
            user_id = self._existing(rows, name).id if name else None
            names = {u.id: u.name for u in rows.users()}
            return [(names.get(t.user_id, "?"), t) for t in rows.tokens(user_id)]


def _public(user: UserRow) -> dict[str, object]:
    """A user as the audit trail records it: never the password hash."""
    return {
        "user": user.name,
        "full_name": user.full_name,
        "role": user.role,
        "source": user.source,
        "enabled": user.enabled,
    }
