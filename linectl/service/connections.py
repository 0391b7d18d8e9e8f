"""Connection hygiene for the daemon's HTTP servers: stalled or unauthenticated clients cannot use
up its file descriptors and lock out the people who run the line.

Three limits, each found by an attack that worked (1,100 local connections that never finished
their headers held the daemon's 1,024 descriptors; the printer could not reconnect and the log
filled with "socket.accept() out of system resource"):

- a header/idle timeout (:data:`IDLE_TIMEOUT_S`): a connection that has not sent a whole request
  within it, or stays idle that long between requests, is closed;
- a cap on connections that have not yet made an authenticated request (:class:`ConnectionGuard`):
  over the cap the oldest of them is closed, so a new client always gets in, and a connection
  that authenticated once is never evicted;
- accept errors (out of descriptors) are logged at most once per :data:`LOG_EVERY_S`, with how
  many were folded in (:func:`quiet_accept_errors`); :func:`raise_open_files_limit` lifts the soft
  descriptor limit to the hard one at start (the systemd unit sets ``LimitNOFILE``).
"""

from __future__ import annotations

import asyncio
import resource
import time
from collections import OrderedDict
from typing import Any

import structlog
from aiohttp import web
from aiohttp.web_protocol import RequestHandler

log = structlog.get_logger(__name__)

IDLE_TIMEOUT_S = 15.0
MAX_UNTRUSTED = 256
LOG_EVERY_S = 10.0


class ConnectionGuard:
    """Keeps at most ``limit`` connections that never authenticated open on one server."""

    def __init__(self, name: str, limit: int = MAX_UNTRUSTED) -> None:
        if limit < 1:
            raise ValueError("the connection cap must be at least 1")
        self.name = name
        self.limit = limit
        self.evicted = 0
        self._untrusted: OrderedDict[RequestHandler, asyncio.Transport] = OrderedDict()
        self._report = _Throttle()

    def attach(self, server: web.Server) -> None:
        """Follow every connection ``server`` (a set-up runner's ``server``) makes and loses."""
        made, lost = server.connection_made, server.connection_lost

        def connection_made(handler: RequestHandler, transport: asyncio.Transport) -> None:
            made(handler, transport)
            self._opened(handler, transport)

        def connection_lost(handler: RequestHandler, exc: BaseException | None = None) -> None:
            lost(handler, exc)
            self._untrusted.pop(handler, None)

        server.connection_made = connection_made  # type: ignore[method-assign]
        server.connection_lost = connection_lost  # type: ignore[method-assign]

    def trust(self, request: web.BaseRequest) -> None:
        """``request`` authenticated: its connection is no longer a candidate for eviction."""
        self._untrusted.pop(request.protocol, None)

    @property
    def untrusted(self) -> int:
        """Open connections that have not authenticated yet."""
        return len(self._untrusted)

    def _opened(self, handler: RequestHandler, transport: asyncio.Transport) -> None:
        self._untrusted[handler] = transport
        while len(self._untrusted) > self.limit:
            _, oldest = self._untrusted.popitem(last=False)
            oldest.close()
            self.evicted += 1
            folded = self._report.due()
            if folded is not None:
                log.warning(
                    "closed unauthenticated connections over the cap",
                    server=self.name,
                    cap=self.limit,
                    closed=self.evicted,
                    since_last_report=folded + 1,
                )


GUARD = web.AppKey("connection-guard", ConnectionGuard)


class _Throttle:
    """Says when a repeated message is due again; counts the ones folded in meanwhile."""

    def __init__(self, every_s: float = LOG_EVERY_S) -> None:
        self.every_s = every_s
        self._last = -float("inf")
        self._folded = 0

    def due(self) -> int | None:
        """How many were folded since the last report, if one is due now; else None."""
        now = time.monotonic()
        if now - self._last < self.every_s:
            self._folded += 1
            return None
        folded, self._folded, self._last = self._folded, 0, now
        return folded


def quiet_accept_errors(loop: asyncio.AbstractEventLoop) -> None:
    """Log the loop's "socket.accept() out of system resource" at most once per LOG_EVERY_S.

    Everything else still goes to the handler that was there before (or the default one).
    """
    previous = loop.get_exception_handler()
    throttle = _Throttle()

    def handler(loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
        message = str(context.get("message", ""))
        if message.startswith("socket.accept()"):
            folded = throttle.due()
            if folded is not None:
                log.error(
                    "cannot accept connections: out of file descriptors or memory",
                    error=str(context.get("exception", "")),
                    repeated=folded + 1,
                )
            return
        if previous is not None:
            previous(loop, context)
        else:
            loop.default_exception_handler(context)

    loop.set_exception_handler(handler)


def raise_open_files_limit() -> int:
    """Lift the soft limit on open files to the hard one; returns the limit now in force."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY or soft < hard:
        target = hard if hard != resource.RLIM_INFINITY else max(soft, 65536)
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
            soft = target
        except (ValueError, OSError) as exc:
            log.warning("cannot raise the open files limit", soft=soft, hard=hard, error=str(exc))
    return soft
