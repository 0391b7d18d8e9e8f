"""``POST /v1/sessions`` and ``DELETE /v1/sessions/current``: log a person in or out through the
control API, for front ends that hold no ledger (the HMI); ``GET /v1/sessions/current`` says
whose a token is (the OPC UA server checks a machine account's API token with it).

The caller is already authenticated (the API's middleware: typically the HMI's machine token);
the person proves who they are with their password, checked by :class:`~linectl.identity.Identity`
exactly as ``linectl login`` does (lockout, expiry, directory login, audit of failures). The answer
carries the person's own session token: everything the front end then does for them is made and
attributed with it, and checked against their role by the API.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

import structlog
from aiohttp import web

from linectl.identity import AuthenticationFailed, Identity
from linectl.service.api_auth import PRINCIPAL
from linectl.service.problems import problem

log = structlog.get_logger(__name__)

_IDENTITY = web.AppKey("sessions_identity", Identity)
_MAX_NAME = 64
_MAX_PASSWORD = 1024


def _problem(status: int, kind: str, detail: str, **extra: Any) -> web.Response:
    return problem(status, kind.replace("-", " ").capitalize(), detail, kind=kind, **extra)


async def _login(request: web.Request) -> web.Response:
    try:
        body = await request.json()
    except (json.JSONDecodeError, UnicodeDecodeError, RecursionError):
        return _problem(400, "bad-request", "the body must be JSON", field="(body)")
    if not isinstance(body, dict) or set(body) - {"user", "password"}:
        return _problem(400, "bad-request", 'send {"user": ..., "password": ...}', field="(body)")
    user, password = body.get("user"), body.get("password")
    if not isinstance(user, str) or not 0 < len(user) <= _MAX_NAME:
        return _problem(400, "bad-request", f"user: 1-{_MAX_NAME} characters", field="user")
    if not isinstance(password, str) or len(password) > _MAX_PASSWORD:
        return _problem(400, "bad-request", "password: a string", field="password")
    try:
        principal, token = await asyncio.to_thread(request.app[_IDENTITY].login, user, password)
    except AuthenticationFailed as exc:
        log.info("login refused", user=user, why=exc.reason)
        return _problem(401, "login-refused", exc.message, reason=exc.reason)
    log.info("login", user=principal.name, role=principal.role)
    return web.json_response(
        {
            "token": token,
            "user": principal.name,
            "full_name": principal.full_name,
            "role": principal.role,
        },
        status=201,
    )


async def _current(request: web.Request) -> web.Response:
    """Who the token of the request belongs to (a session or an API token)."""
    principal = request[PRINCIPAL]
    return web.json_response(
        {
            "user": principal.name,
            "full_name": principal.full_name,
            "role": principal.role,
            "via": principal.via,
        }
    )


async def _logout(request: web.Request) -> web.Response:
    _, _, token = request.headers.get("Authorization", "").partition(" ")
    await asyncio.to_thread(request.app[_IDENTITY].logout, token.strip())
    return web.Response(status=204)


def add_session_routes(app: web.Application, identity: Identity) -> None:
    """Serve login and logout for front ends on ``app`` (the control API)."""
    app[_IDENTITY] = identity
    app.router.add_post("/v1/sessions", _login)
    app.router.add_get("/v1/sessions/current", _current, allow_head=False)
    app.router.add_delete("/v1/sessions/current", _logout)
