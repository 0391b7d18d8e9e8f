"""Users for tests: a first admin, people with usable passwords, sessions and machine tokens.

Passwords are made by :func:`new_password` (random per call) and handed around by fixtures,
never written into argv or the environment. A person's first password is expired by design,
so :meth:`People.add` changes it once, as the person would at the first login. Every step runs
on a Ledger of its own with the wall clock (as the CLI and the daemon will check it), whatever
clock the test's own Ledger has.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from linectl.config import IdentitySection
from linectl.identity import Identity, Principal
from linectl.identity.keyfiles import session_path, write_secret_file
from linectl.identity.setup import line_identity
from linectl.ledger import Ledger


def new_password() -> str:
    """A random password that meets the default policy."""
    return "pw-" + secrets.token_urlsafe(15)


class People:
    """Enrols users on one ledger file through the identity service."""

    def __init__(
        self, ledger: Ledger | str | os.PathLike[str], policy: IdentitySection | None = None
    ) -> None:
        self.path = Path(ledger.path if isinstance(ledger, Ledger) else ledger)
        self.policy = policy or IdentitySection()
        self.passwords: dict[str, str] = {}
        self._admin: Principal | None = None

    @contextmanager
    def identity(self) -> Iterator[Identity]:
        with Ledger(self.path) as ledger:
            yield line_identity(ledger, self.policy)  # with the audit key, if the ledger has one

    @property
    def admin(self) -> Principal:
        """The first admin ("admin"), created on first use."""
        if self._admin is None:
            password = new_password()
            with self.identity() as identity, identity.ledger.identity.read() as rows:
                user = rows.user("admin")
            if user is None:  # else another People of this ledger made it: act as that admin
                with self.identity() as identity:
                    user = identity.bootstrap_admin("admin", "Ada Admin", password, one_time=False)
                self.passwords["admin"] = password
            self._admin = Principal(user.id, user.name, user.full_name, user.role, "test")
        return self._admin

    def add(self, name: str, role: str, full_name: str = "") -> str:
        """A user with a usable password (returned); a machine account gets none."""
        admin = self.admin
        with self.identity() as identity:
            if role == "machine":
                identity.add_user(admin, name, role, full_name or name, None)
                return ""
            first, password = new_password(), new_password()
            identity.add_user(admin, name, role, full_name or name.title(), first)
            identity.change_password(name, first, password)
        self.passwords[name] = password
        return password

    def session(self, name: str) -> str:
        """Log ``name`` in; the session token is also written where the CLI looks for it."""
        with self.identity() as identity:
            _, token = identity.login(name, self.passwords[name])
        write_secret_file(session_path(self.policy, self.path), token + "\n")
        return token

    def log_in(self, name: str, role: str, full_name: str = "") -> str:
        """A new user ``name`` with ``role``, logged in for the CLI; returns the password."""
        password = self.add(name, role, full_name)
        self.session(name)
        return password

    def token(self, name: str, out: Path | None = None) -> str:
        """A new API token for ``name`` (written to ``out``, 0600, if given)."""
        admin = self.admin
        with self.identity() as identity:
            _, token = identity.create_token(admin, name, "test")
        if out is not None:
            write_secret_file(out, token + "\n")
        return token


def machine_token(ledger: str | os.PathLike[str], name: str, out: Path) -> Path:
    """A machine account ``name`` on ``ledger`` and its API token in ``out`` (0600)."""
    people = People(ledger)
    people.add(name, "machine")
    people.token(name, out)
    return out
