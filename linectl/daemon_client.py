"""A client of the daemon's control API, for the processes that observe and command the line
from beside it (the HMI, the OPC UA server): over TCP or the Unix socket.

It makes requests with a caller's own token (:meth:`DaemonClient.call`) and follows the event
stream (``GET /v1/events``, server-sent events) for ever: when the daemon goes away it
reconnects with capped backoff plus jitter, the first failure of an outage logged as a warning
and the repeats at debug. The stream is live from its first ``snapshot`` event.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import random
from collections.abc import Awaitable, Callable
from typing import Any

import aiohttp
import structlog

from linectl.config import ControlSection

log = structlog.get_logger(__name__)

BACKOFF_FIRST_S = 0.2
BACKOFF_MAX_S = 5.0
CALL_TIMEOUT_S = 120.0  # a close-batch reconciles

EventSink = Callable[[str, dict[str, Any]], Awaitable[None]]


def yield_cpu_to_the_line(nice: int) -> int:
    """Lower this process's CPU priority to ``nice`` on every one of its threads (Linux keeps a
    niceness per thread); never raises it (that needs privileges). Returns the niceness now.

    The HMI and the OPC UA server share a small PC's cores with the daemon: at niceness 0 the
    daemon, and so the pack path, wins every contest for a core."""
    tasks = [0]
    with contextlib.suppress(OSError):
        tasks = [int(tid) for tid in os.listdir("/proc/self/task")]
    now = os.getpriority(os.PRIO_PROCESS, 0)
    for tid in tasks:
        with contextlib.suppress(OSError):  # a thread that just ended
            if os.getpriority(os.PRIO_PROCESS, tid) < nice:
                os.setpriority(os.PRIO_PROCESS, tid, nice)
    return max(now, nice)


class DaemonUnavailable(Exception):
    """The daemon did not answer; the message says where the client looked."""


class DaemonClient:
    """Requests to the control API and its event stream."""

    def __init__(self, control: ControlSection) -> None:
        self.control = control
        self.live = False
        if control.unix_socket is not None:
            self.where = f"unix:{control.unix_socket}"
            self._base = "http://localhost"
        else:
            host = f"[{control.host}]" if ":" in control.host else control.host
            self._base = self.where = f"http://{host}:{control.port}"
        self._session: aiohttp.ClientSession | None = None

    def session(self) -> aiohttp.ClientSession:
        if self._session is None:
            path = self.control.unix_socket
            connector = aiohttp.UnixConnector(path=str(path)) if path is not None else None
            self._session = aiohttp.ClientSession(connector=connector)
        return self._session

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def call(
        self, method: str, path: str, token: str, body: Any = None
    ) -> tuple[int, dict[str, Any], bytes]:
        """One request made with ``token``: (HTTP status, JSON object or {}, raw body)."""
        headers = {"Authorization": f"Bearer {token}"}
        try:
            async with self.session().request(
                method,
                self._base + path,
                json=body,
                headers=headers,
                timeout=aiohttp.ClientTimeout(total=CALL_TIMEOUT_S),
            ) as response:
                raw = await response.read()
                status, kind = response.status, response.content_type
        except (aiohttp.ClientError, OSError, TimeoutError) as exc:
            raise DaemonUnavailable(
                f"the line's daemon at {self.where} did not answer ({exc or type(exc).__name__})"
            ) from None
        doc = json.loads(raw) if kind.endswith("json") and raw else {}
        return status, doc if isinstance(doc, dict) else {}, raw

    async def follow(
        self, path: str, token: str, sink: EventSink, down: Callable[[], None] | None = None
    ) -> None:
        """Follow the event stream at ``path`` for ever, passing each event to ``sink``; ``down``
        is called each time the stream is lost (cancel to stop)."""
        delay = BACKOFF_FIRST_S
        warned = False
        while True:
            try:
                await self._follow(path, token, sink)
                why = "the daemon ended the event stream"
            except (aiohttp.ClientError, OSError, ValueError) as exc:
                why = str(exc) or type(exc).__name__
            if self.live:
                delay, warned = BACKOFF_FIRST_S, False
            self.live = False
            if down is not None:
                down()
            if not warned:
                log.warning("lost the daemon; reconnecting", where=self.where, why=why)
                warned = True
            else:
                log.debug("daemon still unreachable", where=self.where, why=why)
            await asyncio.sleep(delay * random.uniform(0.8, 1.2))
            delay = min(BACKOFF_MAX_S, delay * 2)

    async def _follow(self, path: str, token: str, sink: EventSink) -> None:
        headers = {"Authorization": f"Bearer {token}", "Accept": "text/event-stream"}
        timeout = aiohttp.ClientTimeout(total=None, sock_connect=5, sock_read=60)
        async with self.session().get(
            self._base + path, headers=headers, timeout=timeout
        ) as response:
            if response.status != 200:
                raise ValueError(f"GET {path} answered HTTP {response.status}")
            name, data = "message", ""
            async for raw in response.content:
                line = raw.decode("utf-8").rstrip("\r\n")
                if not line:
                    if data:
                        if name == "snapshot" and not self.live:
                            self.live = True
                            log.info("following the daemon's events", where=self.where)
                        await sink(name, json.loads(data))
                    name, data = "message", ""
                elif line.startswith("event:"):
                    name = line[6:].strip()
                elif line.startswith("data:"):
                    data += line[5:].strip()
