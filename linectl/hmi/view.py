"""The HMI's picture of the line: the daemon's status snapshot with its events applied.

One :class:`LineView` per HMI process, fed by the one event stream the HMI reads from the
daemon; every browser gets the same coalesced summary (:meth:`LineView.summary`), at most a
few times a second, never one message per pack. The summary also says, per record screen
(batch, aggregation, alarms, audit, rejects), at which version what it shows last changed, so
that a browser on that screen fetches it again then, and only then.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections import Counter, deque
from typing import Any

REJECTS_KEPT = 20
ALARM_HISTORY = 200
RATE_BUCKET_S = 10.0
RATE_BUCKETS = 60  # ten minutes of reject rate
SCREENS = ("batch", "aggregation", "alarms", "audit", "rejects")
"""The screens that re-read the daemon when what they show changed (:attr:`LineView.screens`)."""
ALL = SCREENS
# which screens an event of the daemon's stream changes
_SCREENS_OF: dict[str, tuple[str, ...]] = {
    "snapshot": ALL,
    "state-changed": ("batch", "aggregation", "audit", "alarms"),
    "alarm-raised": ("alarms", "audit"),
    "alarm-cleared": ("alarms", "audit"),
    "committed": ("aggregation",),  # a good pack is packed into the case
    "rejected": ("rejects",),  # a verdict-written of a reject
}


class LineView:
    """The latest status of the line, the recent rejects and the reject rate over time."""

    def __init__(self) -> None:
        self.connected = False
        self.status: dict[str, Any] = {}
        self.recent_rejects: deque[dict[str, Any]] = deque(maxlen=REJECTS_KEPT)
        self.alarm_history: deque[dict[str, Any]] = deque(maxlen=ALARM_HISTORY)  # newest first
        self.rate: deque[list[float]] = deque(maxlen=RATE_BUCKETS)  # [start, good, reject]
        self.version = 0
        self.screens = dict.fromkeys(SCREENS, 0)  # screen -> the version of its last change
        self.last_batch: str | None = None  # the newest batch seen (to release once closed)
        self.last_event_at = 0.0  # when the newest applied event arrived (epoch seconds)
        self._changed = asyncio.Event()
        self._summary: tuple[int, bytes] | None = None

    # --- input: the daemon's stream ------------------------------------------------------------

    def set_connected(self, connected: bool) -> None:
        if connected != self.connected:
            self.connected = connected
            self._bump(*ALL)  # back: every screen reads the daemon again

    def apply(self, name: str, data: Any) -> None:
        """Apply one message of ``GET /v1/events`` (its event name and JSON data)."""
        self.last_event_at = time.time()
        if not isinstance(data, dict):
            return
        if name == "snapshot":
            self.status = data
            batch = _obj(data.get("batch"), "batch").get("batch")
            self.last_batch = batch or self.last_batch
        elif name == "state-changed":
            self.status["state"] = {"name": data.get("new"), "number": None}
        elif name == "alarm-raised":
            self.alarm_history.appendleft(data | {"at": time.time(), "raised": True})
            alarms = [a for a in self.status.get("alarms", []) if a.get("code") != data["code"]]
            self.status["alarms"] = [*alarms, data | {"since": _now_iso()}]
        elif name == "alarm-cleared":
            self.alarm_history.appendleft(data | {"at": time.time(), "raised": False})
            alarms = self.status.get("alarms", [])
            self.status["alarms"] = [a for a in alarms if a.get("code") != data.get("code")]
        elif name in ("device-lost", "device-back"):
            device = self.status.setdefault("devices", {}).setdefault(data.get("name"), {})
            device["state"] = "lost" if name == "device-lost" else "connected"
            device["error"] = data.get("error")
        elif name == "verdict-written":
            if not self._verdict(data):
                self._bump()
                return
            name = "rejected"
        elif name == "counters":
            self.status.setdefault("counters", {}).update(data.get("values", {}))
        elif name == "pool-level":
            self.status.setdefault("pool", {})["available"] = data.get("available")
        elif name == "upstream-level":
            self.status.setdefault("upstream", {})["backlog"] = data.get("backlog")
        elif name != "committed":  # committed: only the screens below change
            return
        self._bump(*_SCREENS_OF.get(name, ()))

    def _verdict(self, data: dict[str, Any]) -> bool:
        """Count a verdict in the rate; keep a reject. True for a reject."""
        good = data.get("verdict") == "GOOD"
        now = time.time()
        if not self.rate or now - self.rate[-1][0] >= RATE_BUCKET_S:
            self.rate.append([now - now % RATE_BUCKET_S, 0.0, 0.0])
        self.rate[-1][1 if good else 2] += 1
        if not good:
            reasons = self.status.setdefault("reject_reasons", {})
            code = str(data.get("reason"))
            reasons[code] = int(reasons.get(code, 0)) + 1
            self.recent_rejects.appendleft(
                {"seq": data.get("seq"), "reason": data.get("reason"), "at": now}
            )
        return not good

    def mark(self, *screens: str) -> None:
        """``screens`` changed (their data may have been written a moment after the event)."""
        self._bump(*screens)

    def touch(self) -> None:
        """Something changed that the daemon's stream does not carry (a user's action done
        through the HMI: an acknowledgement, a release, a new work order): screens re-read."""
        self._bump(*ALL)

    def _bump(self, *screens: str) -> None:
        self.version += 1
        for screen in screens:
            self.screens[screen] = self.version
        self._changed.set()

    async def changed_since(self, version: int) -> int:
        """Wait until the view is newer than ``version``; returns the new version."""
        while self.version <= version:
            self._changed.clear()
            await self._changed.wait()
        return self.version

    # --- output: what the screens show ---------------------------------------------------------

    def summary(self) -> dict[str, Any]:
        """The overview's figures, JSON-ready."""
        s = self.status
        counters = _obj(s.get("counters"))
        good, reject = (
            int(counters.get("verdicts_good", 0)),
            int(counters.get("verdicts_reject", 0)),
        )
        pool = _obj(s.get("pool"))
        batch = _obj(s.get("batch"), "batch")
        devices = _obj(s.get("devices"))
        return {
            "connected": self.connected,
            "state": _obj(s.get("state"), "name").get("name"),
            "line": _obj(s.get("line"), "id").get("id"),
            "batch": batch.get("batch"),
            "speed": counters.get("packs_per_minute"),
            "good": good,
            "reject": reject,
            "rate": reject / (good + reject) if good + reject else 0.0,
            "pool": pool.get("available"),
            "pool_low": bool(pool.get("low")),
            "backlog": _obj(s.get("upstream")).get("backlog"),
            "devices": [
                {"name": name, "kind": d.get("kind"), "state": d.get("state")}
                for name, d in sorted(devices.items())
                if isinstance(d, dict)
            ],
            "alarms": [
                {"code": a.get("code"), "message": a.get("message"), "holds": a.get("holds")}
                for a in s.get("alarms") or []
            ],
            "reasons": dict(Counter(s.get("reject_reasons") or {})),
            "rejects": list(self.recent_rejects)[:8],
            "rate_series": [
                {"at": b[0], "rate": b[2] / (b[1] + b[2]) if b[1] + b[2] else 0.0}
                for b in self.rate
            ],
            "event_at": self.last_event_at,
            "screens": dict(self.screens),
        }

    def summary_json(self) -> bytes:
        """:meth:`summary` encoded once per version, shared by every browser."""
        if self._summary is None or self._summary[0] != self.version:
            text = json.dumps(self.summary(), separators=(",", ":"), ensure_ascii=False)
            self._summary = (self.version, text.encode())
        return self._summary[1]


def _obj(value: Any, key: str = "value") -> dict[str, Any]:
    """``value`` if it is an object; a bare value as ``{key: value}``; else empty."""
    if isinstance(value, dict):
        return value
    return {} if value is None else {key: value}


def _now_iso() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.localtime())
