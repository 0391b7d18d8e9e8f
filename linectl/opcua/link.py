"""The OPC UA server's link to the daemon: a :class:`~linectl.daemon_client.DaemonClient`.

It follows the event stream with the server's own machine token, makes commands with each OPC UA
user's own session token, and logs users in (``POST /v1/sessions``), synchronously as asyncua asks.
"""

from __future__ import annotations

import http.client
import json
import socket
from pathlib import Path
from typing import Any

from linectl.config import ControlSection
from linectl.daemon_client import DaemonClient, DaemonUnavailable, EventSink

__all__ = ["DaemonLink", "DaemonUnavailable", "EventSink"]

LOGIN_TIMEOUT_S = 10.0


class _UnixConnection(http.client.HTTPConnection):
    def __init__(self, path: Path, timeout: float) -> None:
        super().__init__("localhost", timeout=timeout)
        self._path = path

    def connect(self) -> None:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(self.timeout)
        sock.connect(str(self._path))
        self.sock = sock


class DaemonLink(DaemonClient):
    """The control API for the OPC UA server: its own token, and users' logins."""

    def __init__(self, control: ControlSection, token: str) -> None:
        super().__init__(control)
        self.token = token

    def login_blocking(self, user: str, password: str) -> tuple[int, dict[str, Any]]:
        """``POST /v1/sessions`` for an OPC UA user, synchronously.

        asyncua asks its user manager synchronously, inside the session activation, so this
        one request blocks the OPC UA server's loop for a round trip to the daemon (which checks
        the password in a thread). Logins are rare; the pack path is in another process.
        """
        body = json.dumps({"user": user, "password": password})
        return self._blocking("POST", "/v1/sessions", self.token, body)

    def whoami_blocking(self, token: str) -> tuple[int, dict[str, Any]]:
        """``GET /v1/sessions/current`` with ``token``: whose it is (a machine account's API
        token used as its OPC UA password), synchronously like :meth:`login_blocking`."""
        return self._blocking("GET", "/v1/sessions/current", token, None)

    def _blocking(
        self, method: str, path: str, token: str, body: str | None
    ) -> tuple[int, dict[str, Any]]:
        headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
        connection: http.client.HTTPConnection
        if self.control.unix_socket is not None:
            connection = _UnixConnection(self.control.unix_socket, LOGIN_TIMEOUT_S)
        else:
            connection = http.client.HTTPConnection(
                self.control.host, self.control.port, timeout=LOGIN_TIMEOUT_S
            )
        try:
            connection.request(method, path, body, headers)
            response = connection.getresponse()
            raw = response.read()
        except OSError as exc:
            raise DaemonUnavailable(
                f"the line's daemon at {self.where} did not answer ({exc or type(exc).__name__})"
            ) from None
        finally:
            connection.close()
        try:
            doc = json.loads(raw)
        except ValueError:
            doc = {}
        return response.status, doc if isinstance(doc, dict) else {}

    async def follow_events(self, sink: EventSink) -> None:
        """Follow the event stream for ever with the server's token (cancel to stop); the
        per-pack events are left out: the server has no use for them."""
        await self.follow("/v1/events?skip=verdict-written,committed", self.token, sink)
