"""The identity of a running line: its ledger given the audit key, and the directory if any."""

from __future__ import annotations

from pathlib import Path

from linectl.config import IdentitySection
from linectl.identity.accounts import Directory, Identity
from linectl.identity.keyfiles import audit_key_path, load_audit_key
from linectl.ledger import Ledger, LedgerError


def directory_for(policy: IdentitySection) -> Directory | None:
    """The LDAP directory of ``[identity.ldap]``, or None."""
    if policy.ldap is None:
        return None
    from linectl.identity.directory import LdapDirectory  # imported lazily: ldap3

    return LdapDirectory(policy.ldap)


def line_identity(ledger: Ledger, policy: IdentitySection) -> Identity:
    """Attach the audit key (refusing a keyed ledger without it) and build the service."""
    path = audit_key_path(policy, Path(ledger.path))
    key = load_audit_key(path)
    if key is not None:
        ledger.identity.attach_audit_key(key)
    elif ledger.identity.keyed():
        raise LedgerError(
            f"the ledger's audit trail is keyed but the key file {path} is missing: restore it "
            "or set [identity] audit_key_file"
        )
    return Identity(ledger, policy, directory_for(policy))
