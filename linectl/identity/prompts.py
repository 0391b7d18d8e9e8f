"""Passwords at a command line: getpass on the terminal, or one line of standard input each
(``--password-stdin``, for machines and tests). Never an argument, never the environment."""

from __future__ import annotations

import getpass
import sys

from linectl.identity.accounts import Identity
from linectl.identity.errors import PolicyViolation
from linectl.identity.matrix import SIGNED_ACTIONS
from linectl.identity.principal import Principal
from linectl.identity.signatures import Signatures
from linectl.ledger.identity_rows import UserRow


def read_password(from_stdin: bool, prompt: str) -> str:
    """A password from the terminal, or the next line of stdin when ``from_stdin``."""
    if from_stdin:
        line = sys.stdin.readline()
        if not line:
            raise PolicyViolation(f"--password-stdin: no line on standard input for {prompt!r}")
        return line.rstrip("\r\n")
    return getpass.getpass(prompt)


def signer(
    identity: Identity, by: Principal, action: str, meaning: str | None, from_stdin: bool
) -> tuple[UserRow, str]:
    """Re-authenticate ``by`` for a signature on ``action``; returns (signer, meaning)."""
    chosen = meaning or SIGNED_ACTIONS[action][0]
    password = read_password(
        from_stdin, f"signature ({action}, {chosen}): password for {by.name}: "
    )
    return Signatures(identity).authenticate(by, password, action, chosen), chosen
