"""The HMI's link to the daemon: a :class:`~linectl.daemon_client.DaemonClient` whose event
stream feeds the :class:`~linectl.hmi.view.LineView`.

When the daemon goes away the view says "disconnected" while the client reconnects. User actions
are plain requests made with the user's own credential (:meth:`DaemonLink.call`).
"""

from __future__ import annotations

import asyncio
import enum
from typing import Any

from linectl.config import ControlSection
from linectl.daemon_client import DaemonClient, DaemonUnavailable
from linectl.hmi.view import LineView

__all__ = ["AUDIT_SETTLE_S", "DaemonLink", "DaemonUnavailable", "LinkState"]

AUDIT_SETTLE_S = 1.0
"""The daemon writes the audit row of a state change or an alarm a moment after the event (in
a worker thread): the audit screen reads the trail again this long after such an event."""


class LinkState(enum.Enum):
    CONNECTING = "connecting"
    LIVE = "live"
    DOWN = "down"


class DaemonLink(DaemonClient):
    """Reads the daemon's event stream into ``view`` and makes requests for users."""

    def __init__(self, control: ControlSection, observer_token: str, view: LineView) -> None:
        super().__init__(control)
        self.view = view
        self.state = LinkState.CONNECTING
        self._token = observer_token
        self._audit_later: asyncio.TimerHandle | None = None

    async def close(self) -> None:
        if self._audit_later is not None:
            self._audit_later.cancel()
        await super().close()

    async def run(self) -> None:
        """Follow the event stream for ever (cancel to stop)."""
        await self.follow("/v1/events", self._token, self._event, self._down)

    def _down(self) -> None:
        self.state = LinkState.DOWN
        self.view.set_connected(False)

    async def _event(self, name: str, doc: dict[str, Any]) -> None:
        self.view.apply(name, doc)
        if name in ("state-changed", "alarm-raised", "alarm-cleared"):
            self._audit_settles()
        if name == "snapshot" and self.state is not LinkState.LIVE:
            self.state = LinkState.LIVE
            self.view.set_connected(True)
        if name == "state-changed":
            await self._refresh()  # the batch may have changed: events do not say

    async def _refresh(self) -> None:
        """Re-read the status document (a state change may bring a new or no batch)."""
        try:
            status, doc, _ = await self.call("GET", "/v1/status", self._token)
        except DaemonUnavailable:
            return  # the stream itself will notice
        if status == 200:
            self.view.apply("snapshot", doc)

    def _audit_settles(self) -> None:
        """Mark the audit screen again once the daemon has written the event's audit row."""
        if self._audit_later is None:

            def settled() -> None:
                self._audit_later = None
                self.view.mark("audit")

            loop = asyncio.get_running_loop()
            self._audit_later = loop.call_later(AUDIT_SETTLE_S, settled)
