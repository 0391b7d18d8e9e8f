"""Who is at the panel: HMI sessions (cookie -> user, role, language, CSRF token), idle logout,
the login rate limit and each user's language.

What a role may do is decided by the one permission matrix of :mod:`linectl.identity` (passed in
as ``may``), never here; the daemon checks it again for everything the HMI asks of it.
"""

from __future__ import annotations

import contextlib
import json
import secrets
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from linectl.hmi.messages import Msg
from linectl.identity import CONTROL_PERMISSIONS, Permission, allowed

COOKIE = "__Host-linectl-hmi"
MAX_SESSIONS = 500


@dataclass
class HmiSession:
    """One browser's session; ``token`` is the user's credential at the daemon."""

    id: str
    csrf: str
    language: str
    user: str | None = None
    full_name: str = ""
    role: str | None = None
    token: str | None = None
    last_seen: float = field(default_factory=time.monotonic)
    flash: tuple[Msg, bool] | None = None  # a message for the next page (it, is an error)

    @property
    def logged_in(self) -> bool:
        return self.user is not None

    def may(self, permission: Permission | str) -> bool:
        """Whether this user may do ``permission`` (a Permission, or a control command name):
        the one matrix of :mod:`linectl.identity` decides."""
        if self.role is None:
            return False
        if not isinstance(permission, Permission):
            need = CONTROL_PERMISSIONS.get(permission)
            if need is None:
                return False
            permission = need
        return allowed(self.role, permission)


class Sessions:
    """The HMI's sessions, in memory (a restart of the HMI logs everyone out)."""

    def __init__(self, *, idle_s: float, default_language: str, languages_file: Path) -> None:
        self.idle_s = idle_s
        self.default_language = default_language
        self._by_id: dict[str, HmiSession] = {}
        self._languages_file = languages_file
        self._languages: dict[str, str] = {}
        with contextlib.suppress(OSError, ValueError):
            loaded = json.loads(languages_file.read_text(encoding="utf-8"))
            if isinstance(loaded, dict):
                self._languages = {str(k): str(v) for k, v in loaded.items()}

    def new(self) -> HmiSession:
        if len(self._by_id) >= MAX_SESSIONS:
            oldest = min(self._by_id.values(), key=lambda s: s.last_seen)
            del self._by_id[oldest.id]
        session = HmiSession(
            secrets.token_urlsafe(32), secrets.token_urlsafe(32), self.default_language
        )
        self._by_id[session.id] = session
        return session

    def get(self, session_id: str | None, *, active: bool = True) -> tuple[HmiSession | None, bool]:
        """The session of a cookie value, and whether it just expired (idle logout).

        ``active``: a person's request, which restarts the idle time; a live screen fetching
        itself again is not one (a screen left open must still log out)."""
        session = self._by_id.get(session_id or "")
        if session is None:
            return None, False
        now = time.monotonic()
        if session.logged_in and now - session.last_seen > self.idle_s:
            del self._by_id[session.id]
            return None, True
        if active:
            session.last_seen = now
        return session, False

    def log_in(
        self, session: HmiSession, user: str, full_name: str, role: str, token: str
    ) -> HmiSession:
        """A fresh session (new id and CSRF token: no fixation) for ``user``."""
        self._by_id.pop(session.id, None)
        fresh = self.new()
        fresh.user, fresh.full_name, fresh.role, fresh.token = user, full_name, role, token
        fresh.language = self._languages.get(user, session.language)
        return fresh

    def log_out(self, session: HmiSession) -> None:
        self._by_id.pop(session.id, None)

    def set_language(self, session: HmiSession, language: str) -> None:
        """The session's language, remembered for its user (kept in the HMI's state dir)."""
        session.language = language
        if session.user is not None:
            self._languages[session.user] = language
            self._languages_file.parent.mkdir(parents=True, exist_ok=True)
            self._languages_file.write_text(json.dumps(self._languages, indent=1))


class LoginLimit:
    """At most ``per_minute`` login attempts per client address and per user name."""

    def __init__(self, per_minute: int, clock: Callable[[], float] = time.monotonic) -> None:
        self.per_minute = per_minute
        self._clock = clock
        self._attempts: dict[str, deque[float]] = {}

    def allow(self, *keys: str) -> bool:
        """Count an attempt for each key; False if any key is over its limit."""
        now = self._clock()
        ok = True
        for key in keys:
            window = self._attempts.setdefault(key, deque())
            while window and now - window[0] > 60.0:
                window.popleft()
            if len(window) >= self.per_minute:
                ok = False
            else:
                window.append(now)
        if len(self._attempts) > 10_000:
            self._attempts = {k: v for k, v in self._attempts.items() if v}
        return ok
