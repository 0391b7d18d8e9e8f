"""Who is asking the control API, and may they: the authentication middleware, the permission
check through the one matrix, electronic signatures on commands, and the release and user routes.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Awaitable, Callable
from dataclasses import asdict
from typing import Any

import structlog
from aiohttp import web

from linectl.config import LineSection
from linectl.identity import (
    AuthenticationFailed,
    Identity,
    IdentityError,
    Permission,
    Principal,
    Signatures,
)
from linectl.ledger import LedgerError
from linectl.lifecycle import release_events
from linectl.line.control import Command, LineControl
from linectl.line.reasons import RejectReason
from linectl.service.connections import GUARD
from linectl.service.problems import MAX_REASON, BadInput, dumps, json_object, problem

log = structlog.get_logger(__name__)

UNHOLD_REJECT = "line.unhold-reject"
IDENTITY = web.AppKey("identity", Identity)
LINE = web.AppKey("line", LineSection)  # the line's identity, for the events a release queues
PRINCIPAL = web.RequestKey("principal", Principal)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@web.middleware
async def auth(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Every route needs ``Authorization: Bearer <session token or API token>`` of a user."""
    scheme, _, given = request.headers.get("Authorization", "").partition(" ")
    challenge = {"WWW-Authenticate": 'Bearer realm="linectl"'}
    if scheme.lower() != "bearer" or not given.strip():
        return problem(
            401,
            "Unauthorized",
            "send 'Authorization: Bearer <token>': a session token ('linectl login') or an "
            "API token ('linectl user token create')",
            kind="unauthorized",
            headers=challenge,
        )
    try:
        principal = await asyncio.to_thread(request.app[IDENTITY].resolve, given.strip())
    except AuthenticationFailed as exc:
        log.info("control API refused a credential", why=exc.reason)
        return problem(
            401,
            "Unauthorized",
            exc.message,
            kind="unauthorized",
            headers=challenge,
            reason=exc.reason,
        )
    request[PRINCIPAL] = principal
    guard = request.app.get(GUARD)
    if guard is not None:
        guard.trust(request)  # an authenticated client's connection is never evicted
    return await handler(request)


async def require(request: web.Request, permission: Permission, what: str) -> Principal:
    """The request's user, if the matrix gives their role ``permission`` (else 403, audited)."""
    principal: Principal = request[PRINCIPAL]
    if not principal.may(permission):
        identity = request.app[IDENTITY]
        try:
            await asyncio.to_thread(identity.require, principal, permission, what)
        except IdentityError as exc:
            raise Forbidden(exc) from None
    return principal


class Forbidden(Exception):
    def __init__(self, exc: IdentityError) -> None:
        super().__init__(exc.message)
        self.exc = exc


def parse_signature(body: dict[str, Any]) -> tuple[str, str | None] | None:
    raw = body.get("signature")
    if raw is None:
        return None
    if not isinstance(raw, dict) or not isinstance(raw.get("password"), str):
        raise BadInput(
            "signature", 'field \'signature\' must be {"password": "...", "meaning": "..."}'
        )
    meaning = raw.get("meaning")
    if meaning is not None and not isinstance(meaning, str):
        raise BadInput("signature", "signature.meaning must be a string")
    return raw["password"], meaning


async def post_release(request: web.Request) -> web.Response:
    """Release a closed batch: QA's signature, by someone who neither started nor closed it."""
    batch = request.match_info["batch"]
    body = await json_object(request)
    for name in body:
        if name not in ("signature", "reason"):
            raise BadInput(name, f"unknown field {name!r} (allowed: reason, signature)")
    signature = parse_signature(body)
    if signature is None:
        raise BadInput("signature", 'a release is signed: send "signature": {"password": ...}')
    reason = body.get("reason", "")
    if not isinstance(reason, str) or len(reason) > MAX_REASON:
        raise BadInput("reason", f"field 'reason' must be a string of at most {MAX_REASON} chars")
    principal = await require(request, Permission.BATCH_RELEASE, f"release batch {batch}")
    line = request.app.get(LINE)
    if line is None:
        detail = f"batch {batch}: this control API has no line configuration for its EPCIS events"
        return problem(409, "Release refused", detail, kind="release-refused")
    signatures = Signatures(request.app[IDENTITY])
    password, meaning = signature
    try:
        sig = await asyncio.to_thread(
            functools.partial(
                signatures.release_batch,
                principal,
                batch,
                password,
                meaning or "released",
                reason,
                events_for=release_events(line),
            )
        )
    except IdentityError as exc:
        raise Forbidden(exc) from None
    except LedgerError as exc:
        return problem(409, "Release refused", str(exc), kind="release-refused")
    return web.json_response({"batch": batch, "released": True, "signature": asdict(sig)})


async def get_users(request: web.Request) -> web.Response:
    principal = await require(request, Permission.USER_ADMIN, "list users")
    users = await asyncio.to_thread(request.app[IDENTITY].users, principal)
    shown = [{k: v for k, v in asdict(u).items() if k != "password_hash"} for u in users]
    return web.json_response({"users": shown}, dumps=dumps)


def signed_action(command: Command, control: LineControl) -> str | None:
    """The signed action a command is, now: closing the batch, or unholding after a reject the
    gate did not confirm (a pack that should have been rejected may have gone on)."""
    if command is Command.CLOSE_BATCH:
        return "batch.close"
    if command is Command.UNHOLD and any(
        a.get("code") == RejectReason.REJECT_UNCONFIRMED.value for a in control.alarms()
    ):
        return UNHOLD_REJECT
    return None


def batch_of(status: dict[str, Any]) -> str:
    batch = status.get("batch")
    if isinstance(batch, dict):
        return str(batch.get("batch") or batch.get("id") or "")
    return str(batch or "")


class SignatureRequired(IdentityError):
    reason = "signature-required"
