"""The contract between the running line and whoever controls it (HTTP API, CLI, tests).

The daemon implements :class:`LineControl`; the control API and the CLI only ever talk to this
protocol, so the API can be tested against a stand-in and the daemon against the real API.
"""

from __future__ import annotations

import enum
from typing import Any, Protocol, runtime_checkable

from linectl.line.events import Subscription
from linectl.line.reject_frames import RejectFrames


class Command(enum.StrEnum):
    """Operator commands. The PackML ones map to PackML command numbers 1-9 on the PLC."""

    RESET = "reset"
    START = "start"
    STOP = "stop"
    HOLD = "hold"
    UNHOLD = "unhold"
    SUSPEND = "suspend"
    UNSUSPEND = "unsuspend"
    ABORT = "abort"
    CLEAR = "clear"
    CLOSE_BATCH = "close-batch"  # finish the batch: stop, resolve in-flight packs, reconcile


class CommandRefused(Exception):
    """A command that is not allowed now (wrong state, no batch, device missing); says why."""


@runtime_checkable
class LineControl(Protocol):
    """What a running line offers its operators."""

    def status(self) -> dict[str, Any]:
        """Line state (PackML name and number), batch, counters, reject reasons, pool level,
        devices (name -> connected / lost), alarms, upstream backlog. JSON-serialisable."""
        ...

    def alarms(self) -> list[dict[str, Any]]:
        """Active alarms: code, message, since (ISO time), and whether it holds the line."""
        ...

    def subscribe(self, maxsize: int) -> Subscription:
        """A bounded subscription to the line's events (see :mod:`linectl.line.events`): it
        never delays the line; when it overflows its reader is told how many it missed."""
        ...

    def reject_frames(self) -> RejectFrames:
        """The camera frames of the last rejected packs (the HMI's rejects screen)."""
        ...

    async def command(
        self, command: Command, *, user: str, reason: str = "", batch: str | None = None
    ) -> dict[str, Any]:
        """Carry out ``command`` for ``user``; returns the new status; CommandRefused if not now.

        Every accepted command is written to the audit trail with user and reason. ``batch`` is
        required for START when no batch is active.
        """
        ...
