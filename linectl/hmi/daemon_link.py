"""The HMI's link to the daemon: the control API over TCP or its Unix socket, as a client.

One event stream (``GET /v1/events``) feeds the :class:`~linectl.hmi.view.LineView`; when the
daemon goes away the view says "disconnected" and the link reconnects with capped backoff plus
jitter, the first failure of an outage logged as a warning and the repeats at debug.
User actions are plain requests made with the user's own credential (:meth:`DaemonLink.call`).
"""

from __future__ import annotations

import asyncio
import enum
import json
import random
from pathlib import Path
from typing import Any

import aiohttp
import structlog

from linectl.config import ControlSection
from linectl.hmi.view import LineView

log = structlog.get_logger(__name__)

BACKOFF_FIRST_S = 0.2
BACKOFF_MAX_S = 5.0
AUDIT_SETTLE_S = 1.0
"""The daemon writes the audit row of a state change or an alarm a moment after the event (in
a worker thread): the audit screen reads the trail again this long after such an event."""
_CALL_TIMEOUT_S = 120.0  # close-batch reconciles


class LinkState(enum.Enum):
    CONNECTING = "connecting"
    LIVE = "live"
    DOWN = "down"


class DaemonUnavailable(Exception):
    """The daemon did not answer; the message says where the HMI looked."""


class DaemonLink:
    """Reads the daemon's event stream into ``view`` and makes requests for users."""

    def __init__(self, control: ControlSection, observer_token: str, view: LineView) -> None:
        self.view = view
        self.state = LinkState.CONNECTING
        self._token = observer_token
        if control.unix_socket is not None:
            self.where = f"unix:{control.unix_socket}"
            self._base = "http://localhost"
            self._socket: Path | None = control.unix_socket
        else:
            host = f"[{control.host}]" if ":" in control.host else control.host
            self._base = self.where = f"http://{host}:{control.port}"
            self._socket = None
        self._session: aiohttp.ClientSession | None = None
        self._audit_later: asyncio.TimerHandle | None = None

    def session(self) -> aiohttp.ClientSession:
        if self._session is None:
            connector = (
                aiohttp.UnixConnector(path=str(self._socket)) if self._socket is not None else None
            )
            self._session = aiohttp.ClientSession(connector=connector)
        return self._session

    async def close(self) -> None:
        if self._audit_later is not None:
            self._audit_later.cancel()
        if self._session is not None:
            await self._session.close()
            self._session = None

    # --- the event stream ------------------------------------------------------------------------

    async def run(self) -> None:
        """Follow the event stream for ever (cancel to stop)."""
        delay = BACKOFF_FIRST_S
        warned = False
        while True:
            try:
                await self._follow()
                why = "the daemon ended the event stream"
            except (aiohttp.ClientError, OSError, ValueError) as exc:
                why = str(exc) or type(exc).__name__
            if self.state is LinkState.LIVE:
                delay, warned = BACKOFF_FIRST_S, False
            self.state = LinkState.DOWN
            self.view.set_connected(False)
            if not warned:
                log.warning("lost the daemon; reconnecting", where=self.where, why=why)
                warned = True
            else:
                log.debug("daemon still unreachable", where=self.where, why=why)
            await asyncio.sleep(delay * random.uniform(0.8, 1.2))
            delay = min(BACKOFF_MAX_S, delay * 2)

    async def _follow(self) -> None:
        headers = {"Authorization": f"Bearer {self._token}", "Accept": "text/event-stream"}
        timeout = aiohttp.ClientTimeout(total=None, sock_connect=5, sock_read=60)
        async with self.session().get(
            self._base + "/v1/events", headers=headers, timeout=timeout
        ) as response:
            if response.status != 200:
                raise ValueError(f"GET /v1/events answered HTTP {response.status}")
            name, data = "message", ""
            async for raw in response.content:
                line = raw.decode("utf-8").rstrip("\r\n")
                if not line:
                    if data:
                        self._dispatch(name, data)
                    if name == "state-changed":
                        await self._refresh()  # the batch may have changed: events do not say
                    name, data = "message", ""
                elif line.startswith(":"):
                    continue
                elif line.startswith("event:"):
                    name = line[6:].strip()
                elif line.startswith("data:"):
                    data += line[5:].strip()

    async def _refresh(self) -> None:
        """Re-read the status document (a state change may bring a new or no batch)."""
        try:
            status, doc, _ = await self.call("GET", "/v1/status", self._token)
        except DaemonUnavailable:
            return  # the stream itself will notice
        if status == 200:
            self.view.apply("snapshot", doc)

    def _dispatch(self, name: str, data: str) -> None:
        self.view.apply(name, json.loads(data))
        if name in ("state-changed", "alarm-raised", "alarm-cleared"):
            self._audit_settles()
        if name == "snapshot" and self.state is not LinkState.LIVE:
            self.state = LinkState.LIVE
            self.view.set_connected(True)
            log.info("following the daemon's events", where=self.where)

    def _audit_settles(self) -> None:
        """Mark the audit screen again once the daemon has written the event's audit row."""
        if self._audit_later is None:

            def settled() -> None:
                self._audit_later = None
                self.view.mark("audit")

            loop = asyncio.get_running_loop()
            self._audit_later = loop.call_later(AUDIT_SETTLE_S, settled)

    # --- requests --------------------------------------------------------------------------------

    async def call(
        self, method: str, path: str, token: str, body: Any = None
    ) -> tuple[int, dict[str, Any], bytes]:
        """One request with ``token``; returns (HTTP status, JSON object or {}, raw body)."""
        headers = {"Authorization": f"Bearer {token}"}
        try:
            async with self.session().request(
                method,
                self._base + path,
                json=body,
                headers=headers,
                timeout=aiohttp.ClientTimeout(total=_CALL_TIMEOUT_S),
            ) as response:
                raw = await response.read()
                status = response.status
                kind = response.content_type
        except (aiohttp.ClientError, OSError, TimeoutError) as exc:
            raise DaemonUnavailable(
                f"the line's daemon at {self.where} did not answer ({exc or type(exc).__name__})"
            ) from None
        doc: dict[str, Any] = {}
        if kind.endswith("json"):
            parsed = json.loads(raw)
            doc = parsed if isinstance(parsed, dict) else {}
        return status, doc, raw
