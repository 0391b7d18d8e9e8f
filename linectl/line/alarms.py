"""Active alarms of the line: what is wrong, since when, and whether it holds the line.

An alarm is keyed by its code (``device-lost:printer``, ``reject-unconfirmed``, ``pool-low``...).
Raising an active alarm again keeps its first ``since`` and counts the repeat. A holding alarm
keeps the line from producing until an operator acknowledges it with Unhold (and, for a lost
device, until the device is back); other alarms clear by themselves when their cause goes.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

log = logging.getLogger("linectl.runtime")


def iso_now() -> str:
    """The wall clock as ISO 8601 UTC with milliseconds."""
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


@dataclass
class Alarm:
    """One active alarm."""

    code: str
    message: str
    since: str
    holds: bool
    count: int = 1

    def as_dict(self) -> dict[str, Any]:
        return {
            "code": self.code,
            "message": self.message,
            "since": self.since,
            "holds": self.holds,
            "count": self.count,
        }


class Alarms:
    """The set of active alarms; ``on_change(alarm, raised)`` hears every raise and clear."""

    def __init__(self, on_change: Callable[[Alarm, bool], None] | None = None) -> None:
        self._active: dict[str, Alarm] = {}
        self._on_change = on_change

    def raise_(self, code: str, message: str, *, holds: bool) -> bool:
        """Raise ``code``; True when it was not active before (a new alarm)."""
        alarm = self._active.get(code)
        if alarm is not None:
            alarm.count += 1
            alarm.message = message
            alarm.holds = alarm.holds or holds
            return False
        alarm = Alarm(code, message, iso_now(), holds)
        self._active[code] = alarm
        level = logging.ERROR if holds else logging.WARNING
        log.log(level, "alarm %s: %s%s", code, message, " (holds the line)" if holds else "")
        if self._on_change is not None:
            self._on_change(alarm, True)
        return True

    def clear(self, code: str) -> bool:
        """Clear ``code``; True when it was active."""
        alarm = self._active.pop(code, None)
        if alarm is None:
            return False
        log.info("alarm %s cleared", code)
        if self._on_change is not None:
            self._on_change(alarm, False)
        return True

    def clear_where(self, keep: Callable[[Alarm], bool]) -> list[str]:
        """Clear every alarm for which ``keep`` is False; returns the cleared codes."""
        gone = [code for code, alarm in self._active.items() if not keep(alarm)]
        for code in gone:
            self.clear(code)
        return gone

    def active(self, code: str) -> bool:
        return code in self._active

    @property
    def holding(self) -> list[Alarm]:
        """Alarms that keep the line from producing."""
        return [a for a in self._active.values() if a.holds]

    def as_list(self) -> list[dict[str, Any]]:
        """Active alarms, oldest first, as JSON-ready dicts."""
        return [a.as_dict() for a in sorted(self._active.values(), key=lambda a: a.since)]
