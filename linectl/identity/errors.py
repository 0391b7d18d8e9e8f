"""Why an identity check refused: each error carries a short ``reason`` code and a message."""

from __future__ import annotations


class IdentityError(Exception):
    """Base of every refusal; ``reason`` is a stable code (audited, shown by the API)."""

    reason = "refused"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class AuthenticationFailed(IdentityError):
    """Who you are could not be established (wrong password, unknown user, bad token ...)."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


class PasswordExpired(AuthenticationFailed):
    """The password is right but must be changed before anything else."""

    def __init__(self, name: str) -> None:
        super().__init__(
            "password-expired",
            f"the password of {name} has expired: choose a new one "
            "(linectl login asks for it; or linectl passwd)",
        )


class PermissionDenied(IdentityError):
    """You are who you say, but your role does not allow this."""

    reason = "permission-denied"


class PolicyViolation(IdentityError):
    """A new password, role or name is not acceptable; the message says why."""

    reason = "policy"


class SignatureRefused(IdentityError):
    """The signature cannot be given (wrong meaning, same person as the closer, ...)."""

    reason = "signature-refused"
