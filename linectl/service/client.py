"""A small synchronous client for the control API, for the CLI and scripts.

Plain ``http.client`` (TCP or Unix socket): no event loop, quick to start, nothing to clean up.
"""

from __future__ import annotations

import http.client
import json
import socket
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from linectl.config import ControlSection
from linectl.line.control import Command

_GET_TIMEOUT_S = 10.0
_COMMAND_TIMEOUT_S = 120.0  # close-batch resolves in-flight packs and reconciles


class ControlClientError(Exception):
    """The control API could not be used; the message says why and what to do."""


class DaemonUnreachable(ControlClientError):
    """Nothing answers at the configured address."""


class Unauthorized(ControlClientError):
    """The daemon refused the credential (unknown, expired or revoked token, ended session)."""


class Forbidden(ControlClientError):
    """The user is known but their role may not do this (or a signature is missing)."""

    def __init__(self, detail: str, problem: dict[str, Any]) -> None:
        super().__init__(detail)
        self.problem = problem


class CommandRejected(ControlClientError):
    """The line refused the command (HTTP 409); ``problem`` is the RFC 7807 document."""

    def __init__(self, detail: str, problem: dict[str, Any]) -> None:
        super().__init__(detail)
        self.problem = problem


class ApiError(ControlClientError):
    """Any other error answer; ``status`` and ``problem`` as sent by the daemon."""

    def __init__(self, message: str, status: int, problem: dict[str, Any]) -> None:
        super().__init__(message)
        self.status = status
        self.problem = problem


@dataclass(frozen=True)
class Endpoint:
    """Where the control API listens: a Unix socket, or host and port."""

    host: str = "127.0.0.1"
    port: int = 8765
    unix_socket: Path | None = None

    @classmethod
    def from_config(cls, config: ControlSection) -> Endpoint:
        return cls(host=config.host, port=config.port, unix_socket=config.unix_socket)

    @property
    def url(self) -> str:
        if self.unix_socket is not None:
            return f"unix:{self.unix_socket}"
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    def connection(self, timeout: float) -> http.client.HTTPConnection:
        if self.unix_socket is not None:
            return _UnixHTTPConnection(self.unix_socket, timeout)
        return http.client.HTTPConnection(self.host, self.port, timeout=timeout)

    def answers(self, timeout: float = 2.0) -> bool:
        """Whether something accepts connections here (used to tell 'not running' apart)."""
        try:
            conn = self.connection(timeout)
            conn.connect()
        except OSError:
            return False
        conn.close()
        return True


class _UnixHTTPConnection(http.client.HTTPConnection):
    def __init__(self, path: Path, timeout: float) -> None:
        super().__init__("localhost", timeout=timeout)
        self._path = path

    def connect(self) -> None:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(self.timeout)
        try:
            sock.connect(str(self._path))
        except OSError:
            sock.close()
            raise
        self.sock = sock


def unreachable_message(endpoint: Endpoint, why: str = "") -> str:
    """The one message an operator sees when no daemon answers."""
    tail = f" ({why})" if why else ""
    return (
        f"no linectl daemon answering at {endpoint.url}: is it running? "
        f"(systemctl status linectl){tail}"
    )


class ControlClient:
    """Talks to one daemon's control API as the user a session or API token belongs to."""

    def __init__(self, endpoint: Endpoint, token: str) -> None:
        self.endpoint = endpoint
        self._token = token

    @classmethod
    def from_token_file(cls, endpoint: Endpoint, token_file: Path) -> ControlClient:
        """A client whose API token is read from ``token_file`` (first line)."""
        try:
            token = token_file.read_text(encoding="utf-8").strip().splitlines()[0]
        except (OSError, UnicodeDecodeError, IndexError) as exc:
            raise ControlClientError(
                f"cannot read the API token file {token_file}: {exc}"
            ) from None
        return cls(endpoint, token)

    def status(self) -> dict[str, Any]:
        """GET /v1/status."""
        return self._object(self._request("GET", "/v1/status", None, _GET_TIMEOUT_S))

    def counters(self) -> dict[str, Any]:
        """GET /v1/counters."""
        return self._object(self._request("GET", "/v1/counters", None, _GET_TIMEOUT_S))

    def alarms(self) -> list[dict[str, Any]]:
        """GET /v1/alarms."""
        body = self._object(self._request("GET", "/v1/alarms", None, _GET_TIMEOUT_S))
        alarms = body.get("alarms")
        if not isinstance(alarms, list):
            raise ApiError("the daemon's alarm list has no 'alarms' array", 200, body)
        return alarms

    def command(
        self,
        command: Command | str,
        *,
        reason: str = "",
        batch: str | None = None,
        signature: tuple[str, str | None] | None = None,
    ) -> dict[str, Any]:
        """POST /v1/commands; returns the daemon's answer (command, user, status[, signature]).

        ``signature`` is (password, meaning) for a command a person must sign (close-batch).
        """
        payload: dict[str, Any] = {"command": str(Command(command)), "reason": reason}
        if batch is not None:
            payload["batch"] = batch
        if signature is not None:
            payload["signature"] = {"password": signature[0]}
            if signature[1]:
                payload["signature"]["meaning"] = signature[1]
        return self._object(self._request("POST", "/v1/commands", payload, _COMMAND_TIMEOUT_S))

    def release(
        self, batch: str, password: str, meaning: str = "released", reason: str = ""
    ) -> dict[str, Any]:
        """POST /v1/batches/B/release: the caller's signature releases a closed batch."""
        payload = {"reason": reason, "signature": {"password": password, "meaning": meaning}}
        return self._object(
            self._request("POST", f"/v1/batches/{batch}/release", payload, _GET_TIMEOUT_S)
        )

    def users(self) -> list[dict[str, Any]]:
        """GET /v1/users (user administrators only)."""
        body = self._object(self._request("GET", "/v1/users", None, _GET_TIMEOUT_S))
        return list(body.get("users") or [])

    # --- plumbing --------------------------------------------------------------------------------

    def _object(self, body: Any) -> dict[str, Any]:
        if not isinstance(body, dict):
            raise ApiError("the daemon answered with something other than a JSON object", 200, {})
        return body

    def _request(self, method: str, path: str, payload: Any, timeout: float) -> Any:
        headers = {"Authorization": f"Bearer {self._token}", "Accept": "application/json"}
        data = None
        if payload is not None:
            data = json.dumps(payload).encode("utf-8")
            headers["Content-Type"] = "application/json"
        conn = self.endpoint.connection(timeout)
        try:
            try:
                conn.connect()
            except OSError as exc:
                raise DaemonUnreachable(
                    unreachable_message(self.endpoint, exc.strerror or str(exc))
                ) from None
            try:
                conn.request(method, path, body=data, headers=headers)
                response = conn.getresponse()
                raw = response.read()
            except TimeoutError:
                raise ControlClientError(
                    f"the daemon at {self.endpoint.url} did not answer {method} {path} "
                    f"within {timeout:.0f} s"
                ) from None
            except (OSError, http.client.HTTPException) as exc:
                raise ControlClientError(
                    f"the connection to {self.endpoint.url} failed during {method} {path}: {exc}"
                ) from None
        finally:
            conn.close()
        return self._decode(response.status, raw, f"{method} {path}")

    def _decode(self, status: int, raw: bytes, what: str) -> Any:
        try:
            body = json.loads(raw) if raw else None
        except (json.JSONDecodeError, UnicodeDecodeError):
            body = None
        if status < 400:
            if body is None:
                raise ApiError(f"{what}: the daemon's answer is not JSON", status, {})
            return body
        problem = body if isinstance(body, dict) else {}
        detail = str(problem.get("detail") or problem.get("title") or f"HTTP {status}")
        if status == 401:
            raise Unauthorized(
                f"the daemon at {self.endpoint.url} refused the credential: {detail}"
            )
        if status == 403:
            raise Forbidden(f"refused: {detail}", problem)
        if status == 409:
            raise CommandRejected(detail, problem)
        field = f" (field {problem['field']})" if "field" in problem else ""
        raise ApiError(f"{what}: HTTP {status}: {detail}{field}", status, problem)
