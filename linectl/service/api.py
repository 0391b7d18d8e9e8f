"""The local control API: HTTP + JSON on localhost or a Unix socket; every request is made by a
user, authenticated by a session token (``linectl login``) or a per-user API token, and each
route checks the user's role against the one permission matrix (``linectl.identity.matrix``).

Every route talks only to :class:`~linectl.line.control.LineControl`, so the API is tested
against a stand-in and the daemon against the real API. Errors are RFC 7807 problem documents
(``application/problem+json``) that say what was wrong and, for bad input, which field.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import os
import stat
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import structlog
from aiohttp import web

from linectl.config import ControlSection, LineSection
from linectl.identity import (
    CONTROL_PERMISSIONS,
    Identity,
    IdentityError,
    Permission,
    Role,
    Signatures,
)
from linectl.identity.matrix import SIGNED_ACTIONS
from linectl.line.control import Command, CommandRefused, LineControl
from linectl.line.work_orders import WorkOrderService
from linectl.service.api_auth import (
    IDENTITY,
    LINE,
    UNHOLD_REJECT,
    Forbidden,
    SignatureRequired,
    auth,
    batch_of,
    get_users,
    parse_signature,
    post_release,
    require,
    signed_action,
)
from linectl.service.audit_api import add_audit_routes
from linectl.service.batches_api import add_batch_routes
from linectl.service.connections import GUARD, IDLE_TIMEOUT_S, ConnectionGuard
from linectl.service.event_feed import EventFeeds
from linectl.service.problems import (
    MAX_REASON,
    PROBLEM_JSON,
    BadInput,
    dumps,
    json_object,
    problem,
)
from linectl.service.rejects_api import add_reject_routes
from linectl.service.rework_api import add_rework_routes
from linectl.service.sessions_api import add_session_routes
from linectl.service.work_orders_api import add_work_order_routes

__all__ = [
    "COUNTER_KEYS",
    "PROBLEM_JSON",
    "ControlApi",
    "ControlApiError",
    "start_control_api",
]

log = structlog.get_logger(__name__)

COUNTER_KEYS = ("line", "state", "batch", "counters", "reject_reasons", "pool", "upstream")
"""The keys of the status document that GET /v1/counters returns (those that are present)."""

_MAX_BODY = 64 * 1024
_MAX_BATCH = 64
_SHUTDOWN_TIMEOUT_S = 5.0
_COMMAND_FIELDS = frozenset({"command", "reason", "batch", "signature"})

_CONTROL = web.AppKey("control", LineControl)
_FEEDS = web.AppKey("feeds", EventFeeds)

AfterClose = Callable[[str, str], Awaitable[dict[str, Any]]]
"""Called with (batch, user) once a close-batch and its signature are recorded: the daemon
queues the audit chain head upstream (``linectl.upstream.chain_head``) and answers with it."""
_AFTER_CLOSE: web.AppKey[AfterClose | None] = web.AppKey("after_close")

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


class ControlApiError(Exception):
    """The control API cannot start (address in use, socket path unusable, ...)."""


# --- middlewares ---------------------------------------------------------------------------------


@web.middleware
async def _errors(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Outermost: every error becomes a problem document; unexpected ones are logged once."""
    try:
        response = await handler(request)
    except BadInput as exc:
        response = problem(400, "Bad request", exc.detail, kind="bad-request", field=exc.field)
    except Forbidden as forbidden:
        exc_ = forbidden.exc
        response = problem(403, "Forbidden", exc_.message, kind=exc_.reason)
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        headers = {k: v for k, v in exc.headers.items() if k.lower() in {"allow"}}
        detail = {
            404: f"no such endpoint: {request.path}",
            405: f"{request.method} is not allowed on {request.path}",
            413: f"request body larger than {_MAX_BODY} bytes",
        }.get(exc.status, exc.text or exc.reason)
        kind = exc.reason.lower().replace(" ", "-")
        response = problem(exc.status, exc.reason, detail, kind=kind, headers=headers)
    except Exception:
        log.exception("control API request failed", method=request.method, path=request.path)
        response = problem(
            500,
            "Internal server error",
            "the line could not answer this request; see the daemon's log",
            kind="internal-error",
        )
    log.debug(
        "control API request", method=request.method, path=request.path, status=response.status
    )
    return response


# --- input ---------------------------------------------------------------------------------------


def _parse_command(body: dict[str, Any]) -> tuple[Command, str, str | None]:
    for name in body:
        if name not in _COMMAND_FIELDS:
            raise BadInput(
                name, f"unknown field {name!r} (allowed: {', '.join(sorted(_COMMAND_FIELDS))})"
            )
    choices = ", ".join(c.value for c in Command)
    if "command" not in body:
        raise BadInput("command", f"field 'command' is required (one of: {choices})")
    raw = body["command"]
    try:
        command = Command(raw) if isinstance(raw, str) else None
    except ValueError:
        command = None
    if command is None:
        raise BadInput("command", f"field 'command' is {raw!r}; expected one of: {choices}")
    reason = body.get("reason", "")
    if not isinstance(reason, str) or len(reason) > MAX_REASON:
        raise BadInput("reason", f"field 'reason' must be a string of at most {MAX_REASON} chars")
    batch = body.get("batch")
    if batch is not None and (
        not isinstance(batch, str) or not batch.strip() or len(batch) > _MAX_BATCH
    ):
        raise BadInput("batch", f"field 'batch' must be null or 1-{_MAX_BATCH} characters")
    return command, reason, batch


# --- routes --------------------------------------------------------------------------------------


async def _get_status(request: web.Request) -> web.Response:
    await require(request, Permission.VIEW, "see the line's status")
    return web.json_response(request.app[_CONTROL].status(), dumps=dumps)


async def _get_counters(request: web.Request) -> web.Response:
    await require(request, Permission.VIEW, "see the counters")
    status = request.app[_CONTROL].status()
    return web.json_response({k: status[k] for k in COUNTER_KEYS if k in status}, dumps=dumps)


async def _get_events(request: web.Request) -> web.StreamResponse:
    await require(request, Permission.VIEW, "follow the line's events")
    return await request.app[_FEEDS].serve(request)


async def _end_feeds(app: web.Application) -> None:
    await app[_FEEDS].close()


async def _post_command(request: web.Request) -> web.Response:
    body = await json_object(request)
    command, reason, batch = _parse_command(body)
    signature = parse_signature(body)
    principal = await require(request, CONTROL_PERMISSIONS[command.value], command.value)
    user = principal.name
    signer = None
    action = signed_action(command, request.app[_CONTROL])
    if action == UNHOLD_REJECT:
        await require(request, Permission.UNHOLD_REJECT, "unhold after an unconfirmed reject")
    signatures = Signatures(request.app[IDENTITY])
    if action is not None and principal.role != Role.MACHINE:
        meaning = (signature[1] if signature else None) or SIGNED_ACTIONS[action][0]
        if signature is None:
            raise Forbidden(
                SignatureRequired(
                    f"{command.value} needs {user}'s electronic signature ({action}): send "
                    f'"signature": {{"password": ..., "meaning": "{meaning}"}}'
                )
            )
        password = signature[0]
        try:
            signer = await asyncio.to_thread(
                signatures.authenticate, principal, password, action, meaning
            )
        except IdentityError as exc:
            raise Forbidden(exc) from None
    subject = batch or batch_of(request.app[_CONTROL].status())  # what the signature is on
    try:
        status = await request.app[_CONTROL].command(command, user=user, reason=reason, batch=batch)
    except CommandRefused as exc:
        log.info("command refused", command=command.value, user=user, why=str(exc))
        return problem(
            409, "Command refused", str(exc), kind="command-refused", command=command.value
        )
    log.info("command accepted", command=command.value, user=user, reason=reason, batch=batch)
    answer: dict[str, Any] = {"command": command.value, "user": user, "status": status}
    if signer is not None and action is not None:
        sig = await asyncio.to_thread(
            signatures.record, signer, action, meaning, subject, status, reason
        )
        answer["signature"] = {
            "by": sig.printed_name,
            "user": sig.user_name,
            "at": sig.at,
            "meaning": sig.meaning,
            "record_sha256": sig.record_sha256,
        }
    after_close = request.app[_AFTER_CLOSE]
    if command is Command.CLOSE_BATCH and after_close is not None and subject:
        answer["chain_head"] = await after_close(subject, user)  # after the close's signature
    return web.json_response(answer, dumps=dumps)


def _build_app(
    control: LineControl,
    identity: Identity,
    line: LineSection | None = None,
    after_close: AfterClose | None = None,
) -> web.Application:
    app = web.Application(middlewares=[_errors, auth], client_max_size=_MAX_BODY)
    app[_CONTROL] = control
    app[_AFTER_CLOSE] = after_close
    app[IDENTITY] = identity
    if line is not None:
        app[LINE] = line
    app[_FEEDS] = EventFeeds(control)
    app.on_shutdown.append(_end_feeds)
    app.router.add_get("/v1/status", _get_status, allow_head=False)
    app.router.add_get("/v1/counters", _get_counters, allow_head=False)
    app.router.add_get("/v1/events", _get_events, allow_head=False)
    app.router.add_post("/v1/commands", _post_command)
    app.router.add_post("/v1/batches/{batch}/release", post_release)
    app.router.add_get("/v1/users", get_users, allow_head=False)
    add_reject_routes(app, control)
    add_audit_routes(app, control)  # also GET /v1/alarms, with their acknowledgements
    add_batch_routes(app)
    add_rework_routes(app, control, line)
    add_session_routes(app, identity)
    add_work_order_routes(app, WorkOrderService(identity, control, after_close))
    return app


# --- lifecycle -----------------------------------------------------------------------------------


class ControlApi:
    """A running control API; ``url`` is ``http://host:port`` or ``unix:/path/to.sock``."""

    def __init__(self, runner: web.AppRunner, url: str, socket_path: Path | None) -> None:
        self._runner = runner
        self.url = url
        self.socket_path = socket_path
        self._closed = False

    async def close(self) -> None:
        """Stop listening and finish in-flight requests; safe to call twice."""
        if self._closed:
            return
        self._closed = True
        await self._runner.cleanup()
        if self.socket_path is not None:
            _unlink_socket(self.socket_path)
        log.info("control API closed", url=self.url)


async def _socket_answers(path: Path) -> bool:
    """Whether something listens on the Unix socket at ``path`` (so it is not a stale file)."""
    try:
        _, writer = await asyncio.wait_for(asyncio.open_unix_connection(str(path)), 1.0)
    except (OSError, TimeoutError):
        return False
    writer.close()
    with contextlib.suppress(OSError):
        await writer.wait_closed()
    return True


def _socket_file_exists(path: Path) -> bool:
    """Whether a socket file is at ``path``; anything else there is an error, not ours to delete."""
    try:
        mode = path.lstat().st_mode
    except FileNotFoundError:
        return False
    if not stat.S_ISSOCK(mode):
        raise ControlApiError(f"control socket path {path} exists and is not a socket")
    return True


def _unlink_socket(path: Path) -> None:
    with contextlib.suppress(OSError):
        if stat.S_ISSOCK(path.lstat().st_mode):
            path.unlink()


async def _start_unix(runner: web.AppRunner, path: Path) -> str:
    if _socket_file_exists(path):
        if await _socket_answers(path):
            raise ControlApiError(
                f"control socket {path} is in use: is another linectl daemon running?"
            )
        _unlink_socket(path)  # stale, left by a crash
    os.makedirs(path.parent, exist_ok=True)
    await web.UnixSite(runner, str(path)).start()
    os.chmod(path, 0o660)  # tokens guard the API; the mode keeps strangers off the socket
    return f"unix:{path}"


async def _start_tcp(runner: web.AppRunner, host: str, port: int) -> str:
    await web.TCPSite(runner, host, port).start()
    bound = runner.addresses[0]
    shown = f"[{bound[0]}]" if ":" in bound[0] else host
    return f"http://{shown}:{bound[1]}"


async def start_control_api(
    control: LineControl,
    config: ControlSection,
    *,
    identity: Identity,
    line: LineSection | None = None,
    after_close: AfterClose | None = None,
) -> ControlApi:
    """Serve the control API for ``control`` as configured (Unix socket if set, else TCP);
    ``identity`` authenticates each request against the line's ledger; ``line`` (the daemon's
    ``[line]``) lets it carry out rework and batch releases, which write EPCIS events for the
    line; ``after_close`` runs after each close-batch (the daemon exports the audit chain head)."""
    app = _build_app(control, identity, line, after_close)
    guard = app[GUARD] = ConnectionGuard("control API")
    runner = web.AppRunner(
        app,
        access_log=None,
        handle_signals=False,
        shutdown_timeout=_SHUTDOWN_TIMEOUT_S,
        keepalive_timeout=IDLE_TIMEOUT_S,  # also the time a new connection has for its request
    )
    await runner.setup()
    assert runner.server is not None
    guard.attach(runner.server)
    try:
        if config.unix_socket is not None:
            where = str(config.unix_socket)
            url = await _start_unix(runner, config.unix_socket)
        else:
            where = f"{config.host}:{config.port}"
            url = await _start_tcp(runner, config.host, config.port)
    except OSError as exc:
        await runner.cleanup()
        raise ControlApiError(
            f"control API cannot listen on {where}: {exc.strerror or exc}"
            + (" (another linectl daemon?)" if exc.errno == errno.EADDRINUSE else "")
        ) from None
    except BaseException:
        await runner.cleanup()
        raise
    log.info("control API listening", url=url)
    return ControlApi(runner, url, config.unix_socket)
