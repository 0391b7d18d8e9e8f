"""Who is acting: an authenticated user, how they proved it, and what the matrix lets them do."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass

from linectl.identity.errors import PermissionDenied
from linectl.identity.matrix import Permission, allowed

SESSION_PREFIX = "lcs_"
TOKEN_PREFIX = "lct_"


@dataclass(frozen=True)
class Principal:
    """An authenticated user; ``via`` is "session", "token" or "password" (signature, CLI)."""

    user_id: int
    name: str
    full_name: str
    role: str
    via: str
    credential_id: int | None = None

    def may(self, permission: Permission) -> bool:
        return allowed(self.role, permission)

    def require(self, permission: Permission, what: str = "") -> Principal:
        """Self if the role has ``permission``, else PermissionDenied naming user, role, need."""
        if not self.may(permission):
            doing = f" {what}" if what else ""
            raise PermissionDenied(
                f"{self.name} (role {self.role}) may not{doing}: it needs the permission "
                f"{permission.value}, which the role {self.role} does not have"
            )
        return self


def new_secret(prefix: str) -> str:
    """A fresh bearer secret: prefix + 43 URL-safe characters (256 bits)."""
    return prefix + secrets.token_urlsafe(32)


def secret_digest(secret: str) -> str:
    """What the ledger stores instead of a token: its SHA-256 (tokens are random, 256 bits)."""
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()
