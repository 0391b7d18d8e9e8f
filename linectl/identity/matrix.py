"""The one permission matrix: which role may do what. Every interface asks :func:`allowed`.

The decision is data (role -> permissions), not ``if role == ...`` scattered through the code;
docs/identity.md shows this table and a test keeps the two equal.
"""

from __future__ import annotations

from enum import StrEnum


class Role(StrEnum):
    """What a user is there for. ``machine`` is an account for a plant system such as an MES."""

    OPERATOR = "operator"
    SUPERVISOR = "supervisor"
    QA = "qa"
    ENGINEER = "engineer"
    ADMIN = "admin"
    MACHINE = "machine"


class Permission(StrEnum):
    """One thing a user may do, named like the command that does it."""

    VIEW = "view"  # status, counters, alarms, report, trace, contents, batch list
    AUDIT_VIEW = "audit.view"  # audit show, audit verify
    AUDIT_ACKNOWLEDGE = "audit.acknowledge"  # accept integrity findings so the line starts (signed)
    LINE_RUN = "line.run"  # start, stop, hold, unhold, suspend, unsuspend, reset, clear
    LINE_ABORT = "line.abort"
    UNHOLD_REJECT = "line.unhold-reject"  # unhold after an unconfirmed reject (signed)
    BATCH_CREATE = "batch.create"  # batch create, serials/products/tags import, work orders
    BATCH_START = "batch.start"
    BATCH_CLOSE = "batch.close"  # batch close, close-batch (signed)
    BATCH_RELEASE = "batch.release"  # signed, by someone who neither started nor closed it
    REWORK = "rework"  # case / pallet / unit rework, decommission, destroy (signed)
    DISPATCH = "dispatch"  # ship, receive (returns)
    SYNC = "upstream.sync"
    USER_ADMIN = "user.admin"  # user add/disable/enable/role/reset-password, tokens (signed)
    LEDGER_INIT = "ledger.init"  # ledger init on a ledger that already has users


P = Permission
_RUN = {P.VIEW, P.LINE_RUN}
MATRIX: dict[Role, frozenset[Permission]] = {
    Role.OPERATOR: frozenset(_RUN),
    Role.SUPERVISOR: frozenset(
        _RUN
        | {
            P.AUDIT_VIEW,
            P.LINE_ABORT,
            P.UNHOLD_REJECT,
            P.BATCH_CREATE,
            P.BATCH_START,
            P.BATCH_CLOSE,
            P.REWORK,
            P.DISPATCH,
            P.SYNC,
        }
    ),
    Role.QA: frozenset({P.VIEW, P.AUDIT_VIEW, P.BATCH_RELEASE, P.REWORK, P.UNHOLD_REJECT}),
    Role.ENGINEER: frozenset(_RUN | {P.AUDIT_VIEW, P.LINE_ABORT, P.SYNC}),
    Role.ADMIN: frozenset({P.VIEW, P.AUDIT_VIEW, P.AUDIT_ACKNOWLEDGE, P.USER_ADMIN, P.LEDGER_INIT}),
    Role.MACHINE: frozenset(
        _RUN | {P.BATCH_CREATE, P.BATCH_START, P.BATCH_CLOSE, P.DISPATCH, P.SYNC}
    ),
}
"""Role -> the permissions it has. Admins administer users but do not run the line or sign
batches: Annex 11 asks that system administration and production be separate."""

CONTROL_PERMISSIONS: dict[str, Permission] = {
    "start": P.LINE_RUN,
    "stop": P.LINE_RUN,
    "hold": P.LINE_RUN,
    "unhold": P.LINE_RUN,
    "reset": P.LINE_RUN,
    "suspend": P.LINE_RUN,
    "unsuspend": P.LINE_RUN,
    "clear": P.LINE_RUN,
    "abort": P.LINE_ABORT,
    "close-batch": P.BATCH_CLOSE,
}
"""Control API command (``linectl.line.control.Command`` value) -> the permission it needs."""

CLI_PERMISSIONS: dict[str, Permission] = {
    "ledger init": P.LEDGER_INIT,
    "batch create": P.BATCH_CREATE,
    "batch start": P.BATCH_START,
    "batch close": P.BATCH_CLOSE,
    "batch release": P.BATCH_RELEASE,
    "batch material": P.LINE_RUN,
    "batch list": P.VIEW,
    "serials import": P.BATCH_CREATE,
    "products import": P.BATCH_CREATE,
    "products list": P.VIEW,
    "tags ndef": P.VIEW,
    "tags import": P.BATCH_CREATE,
    "serials generate": P.BATCH_CREATE,
    "report": P.VIEW,
    "trace": P.VIEW,
    "contents": P.VIEW,
    "recall": P.VIEW,
    "orphans": P.REWORK,
    "case": P.REWORK,
    "pallet": P.REWORK,
    "unit": P.REWORK,
    "audit show": P.AUDIT_VIEW,
    "audit verify": P.AUDIT_VIEW,
    "audit acknowledge": P.AUDIT_ACKNOWLEDGE,
    "user": P.USER_ADMIN,
    "ship": P.DISPATCH,
    "receive": P.DISPATCH,
}
"""Ledger command of the CLI (``command sub``, or ``command`` for a whole group) -> permission.
Control commands (status, start, ...) go through the control API: CONTROL_PERMISSIONS."""

SIGNED_ACTIONS: dict[str, tuple[str, ...]] = {
    "batch.close": ("performed", "reviewed"),
    "batch.release": ("released", "approved"),
    "line.unhold-reject": ("reviewed", "approved"),
    "rework": ("performed", "approved"),
    "user.admin": ("performed", "approved"),
    "audit.acknowledge": ("reviewed", "approved"),
}
"""Actions that need an electronic signature -> the meanings a signer may state for them."""


def allowed(role: str, permission: Permission) -> bool:
    """Whether ``role`` has ``permission`` (an unknown role has none)."""
    try:
        return permission in MATRIX[Role(role)]
    except ValueError:
        return False


def cli_permission(command: str, sub: str | None) -> Permission | None:
    """The permission a CLI ledger command needs, None if it is not a ledger command."""
    return CLI_PERMISSIONS.get(f"{command} {sub}") or CLI_PERMISSIONS.get(command)


def permissions_of(role: str) -> frozenset[Permission]:
    """Everything ``role`` may do."""
    try:
        return MATRIX[Role(role)]
    except ValueError:
        return frozenset()
