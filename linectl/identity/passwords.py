"""Passwords: argon2id hashes (argon2-cffi) and the policy from ``[identity]``.

No password is ever stored or logged in clear; history keeps hashes only. A hash made with older
parameters is still verified and is re-hashed at the next successful login.
"""

from __future__ import annotations

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from linectl.config import IdentitySection
from linectl.identity.errors import PolicyViolation

HASHER = PasswordHasher()  # argon2id, RFC 9106 low-memory profile (t=3, m=64 MiB, p=4)


def hash_password(password: str) -> str:
    """The argon2id hash (PHC string) of ``password``."""
    return HASHER.hash(password)


def verify_password(password_hash: str | None, password: str) -> bool:
    """Whether ``password`` matches ``password_hash`` (False for None or a malformed hash)."""
    if not password_hash:
        return False
    try:
        return HASHER.verify(password_hash, password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


def needs_rehash(password_hash: str) -> bool:
    """Whether the stored hash uses weaker parameters than new hashes do."""
    return HASHER.check_needs_rehash(password_hash)


def check_new_password(
    policy: IdentitySection, name: str, password: str, history: list[str]
) -> None:
    """Refuse a new password that is too short, is the user's name, or is one of the last N."""
    if len(password) < policy.password_min_length:
        raise PolicyViolation(
            f"the password is {len(password)} characters long; the policy asks for at least "
            f"{policy.password_min_length}"
        )
    if password.strip() != password or not password.isprintable():
        raise PolicyViolation("the password may not start or end with spaces or hold control chars")
    if name.lower() in password.lower():
        raise PolicyViolation("the password may not contain the user name")
    for old in history[: policy.password_history]:
        if verify_password(old, password):
            raise PolicyViolation(
                f"the password was used before: the last {policy.password_history} may not "
                "be reused"
            )
