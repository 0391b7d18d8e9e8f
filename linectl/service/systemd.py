"""sd_notify without libsystemd: READY, STATUS, STOPPING, EXTEND_TIMEOUT and the watchdog.

The service manager passes ``$NOTIFY_SOCKET`` (a path, or ``@name`` for the abstract namespace)
and, with ``WatchdogSec=``, ``$WATCHDOG_USEC`` (and ``$WATCHDOG_PID``). Outside systemd every
call is a no-op that returns False, so the daemon calls these unconditionally.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
from collections.abc import Callable, Mapping

import structlog

log = structlog.get_logger(__name__)


def notify_address(value: str | None) -> str | None:
    """The socket address from ``$NOTIFY_SOCKET``: a path, or ``"\\0name"`` for ``@name``."""
    if not value:
        return None
    if value.startswith("@"):
        return "\0" + value[1:]
    if value.startswith("/"):
        return value
    log.warning("NOTIFY_SOCKET is neither a path nor @abstract; not notifying", value=value)
    return None


def watchdog_interval(environ: Mapping[str, str]) -> float | None:
    """Seconds between WATCHDOG=1 pings (half of ``$WATCHDOG_USEC``), or None if not asked for.

    ``$WATCHDOG_PID``, when set, must be this process: the watchdog belongs to the main process.
    """
    raw = environ.get("WATCHDOG_USEC")
    if not raw:
        return None
    pid = environ.get("WATCHDOG_PID")
    if pid and pid.strip() != str(os.getpid()):
        return None
    try:
        usec = int(raw)
    except ValueError:
        log.warning("WATCHDOG_USEC is not an integer; watchdog not fed", value=raw)
        return None
    return usec / 2_000_000 if usec > 0 else None


class Notifier:
    """Talks to the service manager; a no-op when ``$NOTIFY_SOCKET`` is not set."""

    def __init__(self, environ: Mapping[str, str] | None = None) -> None:
        env = os.environ if environ is None else environ
        self._address = notify_address(env.get("NOTIFY_SOCKET"))
        self._interval = watchdog_interval(env) if self._address else None
        self._sock: socket.socket | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._failed_before = False
        self._closed = False

    @property
    def enabled(self) -> bool:
        """Whether we run under a service manager that listens."""
        return self._address is not None and not self._closed

    @property
    def watchdog_interval(self) -> float | None:
        """Seconds between watchdog pings, None when no watchdog is configured."""
        return self._interval

    def notify(self, *assignments: str) -> bool:
        """Send ``KEY=VALUE`` lines in one datagram; True if it was sent."""
        if self._address is None or self._closed:
            return False
        data = "\n".join(assignments).encode("utf-8")
        try:
            if self._sock is None:
                self._sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC)
                self._sock.settimeout(1.0)  # a stuck manager must not stall the loop for long
            self._sock.sendto(data, self._address)
        except OSError as exc:
            level = log.debug if self._failed_before else log.warning
            level("sd_notify failed", error=str(exc), message=assignments[0] if assignments else "")
            self._failed_before = True
            return False
        self._failed_before = False
        return True

    def ready(self, status: str | None = None) -> bool:
        """Start-up is finished (recovery done, API listening): ``READY=1``."""
        return self.notify("READY=1", *self._status_line(status))

    def status(self, text: str) -> bool:
        """A one-line status shown by ``systemctl status``."""
        return self.notify(*self._status_line(text))

    def stopping(self, status: str | None = None) -> bool:
        """Shutdown has begun: ``STOPPING=1``."""
        return self.notify("STOPPING=1", *self._status_line(status))

    def extend_timeout(self, seconds: float) -> bool:
        """Ask for more start-up or shutdown time, e.g. while crash recovery runs."""
        return self.notify(f"EXTEND_TIMEOUT_USEC={int(seconds * 1_000_000)}")

    def watchdog(self) -> bool:
        """One watchdog ping: ``WATCHDOG=1``."""
        return self.notify("WATCHDOG=1")

    def start_watchdog(self, healthy: Callable[[], bool] | None = None) -> bool:
        """Ping the watchdog every half ``WatchdogSec`` from the running loop.

        A blocked event loop stops the pings, so systemd restarts a wedged daemon. ``healthy``
        may veto a ping. Returns False (and starts nothing) when no watchdog is configured.
        """
        if self._interval is None or self._closed or self._tasks:
            return False
        task = asyncio.get_running_loop().create_task(
            self._feed(self._interval, healthy), name="systemd-watchdog"
        )
        self._tasks.add(task)
        task.add_done_callback(self._task_done)
        return True

    async def _feed(self, interval: float, healthy: Callable[[], bool] | None) -> None:
        while True:
            if healthy is None or healthy():
                self.watchdog()
            await asyncio.sleep(interval)  # a timer, not waiting for an event

    def _task_done(self, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("systemd watchdog task failed", exc_info=task.exception())

    async def close(self) -> None:
        """Stop the watchdog and close the socket; safe to call twice."""
        self._closed = True
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        if self._sock is not None:
            self._sock.close()
            self._sock = None

    @staticmethod
    def _status_line(text: str | None) -> list[str]:
        if not text:
            return []
        return ["STATUS=" + " ".join(text.splitlines())]
