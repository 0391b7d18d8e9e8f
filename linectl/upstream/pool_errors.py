"""How provisioning from an OPEN-SCS pool manager fails, with what to check for each refusal."""

from __future__ import annotations

from standards.openscs import ReturnStatus

_ADVICE = {
    ReturnStatus.InvalidSerialNumberCollection2: (
        "the pool manager does not know this serial-number collection; check "
        "[upstream.provisioning] collections"
    ),
    ReturnStatus.InvalidSerialNumbersFormat4: (
        "the pool manager does not offer this serial format; check [upstream.provisioning] "
        "sn_format against the server's SNFormat property"
    ),
    ReturnStatus.InvalidSelectionCriteria6: (
        "the pool manager refuses the selection criteria (GTIN, lot, market); check the work "
        "order and [upstream.provisioning] market against its PoolSelectionCriteria"
    ),
    ReturnStatus.InsufficientPrivilegeToExecute11: (
        "the pool manager refuses this line the method (privilege or a locked collection); "
        "check the line's OPC UA identity with the site's serialization team"
    ),
}


class ProvisioningError(Exception):
    """Serial provisioning failed; the message says what and what to check."""


class PoolUnavailable(ProvisioningError):
    """The pool manager cannot be reached (after the retries); try again later."""


class PoolProtocolError(ProvisioningError):
    """The pool manager answered something the OPEN-SCS model does not allow."""


class PoolLoginRefused(ProvisioningError):
    """The pool manager refuses this line's client certificate, security policy or user: a
    configuration matter for the site's administrator, not a passing fault."""


class PoolRefused(ProvisioningError):
    """The pool manager answered a ReturnStatus that retrying soon will not change."""

    def __init__(self, method: str, status: ReturnStatus, detail: str = "") -> None:
        self.method, self.status = method, status
        advice = _ADVICE.get(status, "unexpected for this method")
        extra = f" ({detail})" if detail else ""
        super().__init__(f"{method}: {status.name}{extra}: {advice}")


class PoolExhausted(PoolRefused):
    """The collection has no serials left (InsufficientSerialNumbers3 with nothing returned)."""
