"""The ``[identity]`` section: password policy, lockout, sessions, the audit key, LDAP."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

from pydantic import Field, model_validator

from linectl.config.section import Section

ROLE_NAMES = ("operator", "supervisor", "qa", "engineer", "admin", "machine")
"""The roles a user may hold (``linectl.identity.matrix`` gives each its permissions)."""


class LdapSection(Section):
    """Directory login: bind as the user, read the groups, map them to one role."""

    url: str  # ldap://host:389 or ldaps://host:636
    user_dn: str  # template with {name}, e.g. "uid={name},ou=people,dc=example,dc=com"
    group_base: str  # where groups live, e.g. "ou=groups,dc=example,dc=com"
    group_filter: str = "(&(objectClass=groupOfNames)(member={dn}))"
    group_roles: dict[str, str] = Field(default_factory=dict)  # group cn -> role
    start_tls: bool = False
    timeout_s: Annotated[float, Field(gt=0, le=60)] = 5.0

    @model_validator(mode="after")
    def _consistent(self) -> LdapSection:
        if "{name}" not in self.user_dn:
            raise ValueError("user_dn must contain {name}, e.g. uid={name},ou=people,dc=...")
        if not self.url.startswith(("ldap://", "ldaps://")):
            raise ValueError("url must start with ldap:// or ldaps://")
        for group, role in self.group_roles.items():
            if role not in ROLE_NAMES:
                raise ValueError(
                    f"group_roles.{group}: unknown role {role!r} (one of: {', '.join(ROLE_NAMES)})"
                )
        if not self.group_roles:
            raise ValueError("group_roles must map at least one directory group to a role")
        return self


class IdentitySection(Section):
    """Who may do what: password policy, lockout, session timeout, the audit-trail key."""

    password_min_length: Annotated[int, Field(ge=8, le=256)] = 12
    password_history: Annotated[int, Field(ge=0, le=50)] = 5  # the last N may not be reused
    password_expiry_days: Annotated[int, Field(ge=0, le=3650)] = 180  # 0: never
    lockout_attempts: Annotated[int, Field(ge=1, le=100)] = 5
    lockout_minutes: Annotated[float, Field(gt=0, le=1440)] = 15.0
    session_idle_minutes: Annotated[float, Field(gt=0, le=1440)] = 15.0
    token_expiry_days: Annotated[int, Field(ge=0, le=3650)] = 365  # machine tokens; 0: never
    audit_key_file: Path | None = None  # default: audit.key beside the ledger file
    session_dir: Path | None = None  # default: $LINECTL_SESSION_DIR or ~/.local/state/linectl
    ldap: LdapSection | None = None
