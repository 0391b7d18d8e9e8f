"""Directory login (LDAP / Active Directory) with ldap3: bind as the user, map groups to a role.

The user's own bind proves the password (nothing is cached); the groups whose ``member`` is the
user's DN are looked up under ``group_base`` and the first one named in ``[identity.ldap]
group_roles`` gives the role. An empty password is refused before any bind: LDAP treats it as an
anonymous ("unauthenticated") bind that succeeds.
"""

from __future__ import annotations

from ldap3 import BASE, SUBTREE, Connection, Server
from ldap3.core.exceptions import LDAPException
from ldap3.utils.conv import escape_filter_chars
from ldap3.utils.dn import escape_rdn

from linectl.config import LdapSection
from linectl.identity.accounts import DirectoryUser, check_name
from linectl.identity.errors import AuthenticationFailed


class LdapDirectory:
    """A directory as configured in ``[identity.ldap]`` (see the module docstring)."""

    def __init__(self, config: LdapSection) -> None:
        self.config = config

    def authenticate(self, name: str, password: str) -> DirectoryUser:
        check_name(name)
        if not password:
            raise AuthenticationFailed("wrong-password", f"an empty password for {name}")
        cfg = self.config
        dn = cfg.user_dn.format(name=escape_rdn(name))
        server = Server(cfg.url, connect_timeout=cfg.timeout_s)
        conn = Connection(
            server,
            user=dn,
            password=password,
            receive_timeout=max(1, round(cfg.timeout_s)),  # ldap3 packs it as an int
            raise_exceptions=False,
        )
        try:
            conn.open()
            if cfg.start_tls:
                conn.start_tls()
            if not conn.bind():
                why = str(conn.result.get("description", "refused"))
                if why == "invalidCredentials":
                    raise AuthenticationFailed(
                        "wrong-password", f"the directory refused the password of {name}"
                    )
                raise AuthenticationFailed("directory", f"the directory refused {name}: {why}")
            conn.search(dn, "(objectClass=*)", BASE, attributes=["cn", "displayName"])
            full_name = name
            if conn.entries:
                entry = conn.entries[0]
                for attr in ("displayName", "cn"):
                    if attr in entry and entry[attr].value:
                        full_name = str(entry[attr].value)
                        break
            group_filter = cfg.group_filter.format(dn=escape_filter_chars(dn))
            conn.search(cfg.group_base, group_filter, SUBTREE, attributes=["cn"])
            groups = {str(v) for e in conn.entries for v in e["cn"].values}
        except LDAPException as exc:
            raise AuthenticationFailed(
                "directory", f"the directory at {cfg.url} cannot be used: {exc}"
            ) from None
        finally:
            conn.unbind()
        for group, role in cfg.group_roles.items():
            if group in groups:
                return DirectoryUser(name, full_name, role)
        raise AuthenticationFailed(
            "no-role",
            f"{name} is in no directory group mapped to a role "
            f"(groups mapped: {', '.join(cfg.group_roles)})",
        )
