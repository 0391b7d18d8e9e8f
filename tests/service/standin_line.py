"""A stand-in for the daemon behind the control API: a few PackML states and a call log.

Not the daemon and not a mock of it: it implements :class:`LineControl` with just enough state
rules to accept and refuse commands the way an operator would expect, and records every call.
"""

from __future__ import annotations

import contextlib
import io
import logging
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import structlog

from linectl.line.control import Command, CommandRefused
from linectl.line.events import EventStream, Subscription
from linectl.line.reject_frames import RejectFrames
from linectl.logs import LEVEL_ENV, configure_logging

# PackML state numbers (ISA-TR88.00.02): only the ones the stand-in uses
STOPPED, IDLE, SUSPENDED, EXECUTE, ABORTED, HELD = 2, 4, 5, 6, 9, 11
NAMES = {STOPPED: "Stopped", IDLE: "Idle", SUSPENDED: "Suspended", EXECUTE: "Execute"}
NAMES |= {ABORTED: "Aborted", HELD: "Held"}

# command -> (states it is allowed in, state it leads to)
RULES: dict[Command, tuple[frozenset[int], int]] = {
    Command.START: (frozenset({IDLE}), EXECUTE),
    Command.HOLD: (frozenset({EXECUTE, SUSPENDED}), HELD),
    Command.UNHOLD: (frozenset({HELD}), EXECUTE),
    Command.SUSPEND: (frozenset({EXECUTE}), SUSPENDED),
    Command.UNSUSPEND: (frozenset({SUSPENDED}), EXECUTE),
    Command.STOP: (frozenset({IDLE, EXECUTE, HELD, SUSPENDED}), STOPPED),
    Command.RESET: (frozenset({STOPPED}), IDLE),
    Command.ABORT: (frozenset({STOPPED, IDLE, EXECUTE, HELD, SUSPENDED}), ABORTED),
    Command.CLEAR: (frozenset({ABORTED}), STOPPED),
    Command.CLOSE_BATCH: (frozenset({EXECUTE, HELD, STOPPED}), IDLE),
}


@dataclass
class Call:
    command: Command
    user: str
    reason: str
    batch: str | None


@dataclass
class StandInLine:
    """Implements LineControl; ``fail_with`` makes the next command raise that exception."""

    state: int = IDLE
    batch: str | None = None
    calls: list[Call] = field(default_factory=list)
    active_alarms: list[dict[str, Any]] = field(default_factory=list)
    fail_with: Exception | None = None
    rejects: RejectFrames = field(default_factory=RejectFrames)
    good: int = 0
    rejected: int = 0
    events: EventStream = field(default_factory=EventStream)

    def __post_init__(self) -> None:
        self.events.set_snapshot(self.status)

    def status(self) -> dict[str, Any]:
        return {
            "line": "test-line",
            "state": {"name": NAMES[self.state], "number": self.state},
            "batch": self.batch,
            "counters": {"good": self.good, "rejected": self.rejected},
            "reject_reasons": {"no-read": self.rejected},
            "pool": {"unused": 1500, "low_water": 500},
            "devices": {"printer": "connected", "camera": "connected", "plc": "lost"},
            "upstream": {"backlog": 3},
            "alarms": self.alarms(),
        }

    def alarms(self) -> list[dict[str, Any]]:
        return list(self.active_alarms)

    def subscribe(self, maxsize: int) -> Subscription:
        return self.events.subscribe(maxsize)

    def reject_frames(self) -> RejectFrames:
        return self.rejects

    async def command(
        self, command: Command, *, user: str, reason: str = "", batch: str | None = None
    ) -> dict[str, Any]:
        self.calls.append(Call(command, user, reason, batch))
        if self.fail_with is not None:
            raise self.fail_with
        allowed, target = RULES[command]
        if self.state not in allowed:
            raise CommandRefused(f"{command.value} is not allowed in state {NAMES[self.state]}")
        if command is Command.START:
            if batch is None and self.batch is None:
                raise CommandRefused("no batch is active: name one to start")
            self.batch = batch or self.batch
        if command is Command.CLOSE_BATCH:
            self.batch = None
        self.state = target
        return self.status()


@contextlib.contextmanager
def captured_logs(level: str = "DEBUG", *, json: bool = True) -> Iterator[io.StringIO]:
    """linectl's logging configured into a buffer; the previous logging set-up restored after."""
    root = logging.getLogger()
    handlers, root_level = list(root.handlers), root.level
    buffer = io.StringIO()
    env_level = os.environ.pop(LEVEL_ENV, None)  # an operator's override must not skew the test
    configure_logging(level, json=json, stream=buffer)
    try:
        yield buffer
    finally:
        if env_level is not None:
            os.environ[LEVEL_ENV] = env_level
        for handler in list(root.handlers):
            if handler not in handlers:
                root.removeHandler(handler)
        root.setLevel(root_level)
        logging.captureWarnings(False)
        structlog.reset_defaults()
