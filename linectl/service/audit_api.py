"""The audit trail and alarm acknowledgements through the control API.

``GET /v1/audit?batch=&user=&limit=`` reads the trail, newest first (supervisor, QA, engineer
and admin: ``audit.view``). ``POST /v1/alarms/{code}/acknowledge`` records who acknowledged an
active alarm and their comment in the audit trail (``alarm.acknowledge``); the trail is the
one record of acknowledgements, so ``GET /v1/alarms`` shows them after a daemon restart too.
Acknowledging does not clear an alarm: a holding alarm is still ended by Unhold.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

from aiohttp import web

from linectl.identity import Identity, Permission
from linectl.ledger.audit import AuditEntry
from linectl.ledger.identity_rows import find_audit
from linectl.line.control import LineControl
from linectl.service.api_auth import IDENTITY, require
from linectl.service.problems import MAX_REASON, BadInput, dumps, json_object, problem

ALARM_ACK = "alarm.acknowledge"
MAX_AUDIT_ROWS = 500
ACKS_SHOWN = 50
_LINE = web.AppKey("audit_line", LineControl)


def entry_json(entry: AuditEntry) -> dict[str, Any]:
    return {
        "id": entry.id,
        "at": entry.at,
        "user": entry.actor,
        "command": entry.command,
        "reason": entry.reason,
        "before": json.loads(entry.before) if entry.before else None,
        "after": json.loads(entry.after) if entry.after else None,
    }


def _find(identity: Identity, **filters: Any) -> list[AuditEntry]:
    with identity.ledger.identity.read() as rows:
        return find_audit(rows, newest_first=True, **filters)


def _query(request: web.Request, name: str, limit: int) -> str | None:
    value = request.query.get(name, "").strip()
    if len(value) > limit:
        raise BadInput(name, f"query parameter {name!r} is longer than {limit} characters")
    return value or None


async def _get_audit(request: web.Request) -> web.Response:
    await require(request, Permission.AUDIT_VIEW, "see the audit trail")
    batch = _query(request, "batch", 64)
    user = _query(request, "user", 64)
    raw = request.query.get("limit", "100")
    if not raw.isdigit() or not 1 <= int(raw) <= MAX_AUDIT_ROWS:
        raise BadInput("limit", f"query parameter 'limit' must be 1-{MAX_AUDIT_ROWS}, not {raw!r}")
    found = await asyncio.to_thread(
        _find, request.app[IDENTITY], batch=batch, actor=user, limit=int(raw)
    )
    return web.json_response(
        {"entries": [entry_json(e) for e in found], "batch": batch, "user": user}, dumps=dumps
    )


async def acknowledgements(identity: Identity) -> list[dict[str, Any]]:
    """The newest alarm acknowledgements of the trail: code, since, user, at, comment."""
    found = await asyncio.to_thread(_find, identity, command=ALARM_ACK, limit=ACKS_SHOWN)
    out = []
    for e in found:
        after = json.loads(e.after) if e.after else {}
        out.append(
            {
                "code": after.get("code"),
                "since": after.get("since"),
                "user": e.actor,
                "at": e.at,
                "comment": e.reason,
            }
        )
    return out


async def get_alarms(request: web.Request) -> web.Response:
    """Active alarms, each with its acknowledgement (if any), and the recent acknowledgements."""
    await require(request, Permission.VIEW, "see the alarms")
    acks = await acknowledgements(request.app[IDENTITY])
    active = []
    for alarm in request.app[_LINE].alarms():
        ack = next(
            (a for a in acks if a["code"] == alarm["code"] and a["since"] == alarm.get("since")),
            None,
        )
        active.append(alarm | {"acknowledged": ack})
    return web.json_response({"alarms": active, "acknowledgements": acks}, dumps=dumps)


async def _acknowledge(request: web.Request) -> web.Response:
    code = request.match_info["code"]
    body = await json_object(request)
    for name in body:
        if name != "comment":
            raise BadInput(name, f"unknown field {name!r} (allowed: comment)")
    comment = body.get("comment", "")
    if not isinstance(comment, str) or not comment.strip() or len(comment) > MAX_REASON:
        raise BadInput("comment", f"field 'comment' is required: 1-{MAX_REASON} characters")
    principal = await require(request, Permission.LINE_RUN, f"acknowledge alarm {code}")
    alarm = next((a for a in request.app[_LINE].alarms() if a["code"] == code), None)
    if alarm is None:
        return problem(409, "No such alarm", f"alarm {code!r} is not active", kind="no-alarm")
    after = {"code": code, "since": alarm.get("since"), "message": alarm.get("message")}
    identity = request.app[IDENTITY]

    def write() -> AuditEntry:
        with identity.ledger.identity.write() as rows:
            return rows.audit(principal.name, ALARM_ACK, comment.strip(), None, after)

    entry = await asyncio.to_thread(write)
    ack = {"code": code, "since": alarm.get("since"), "user": principal.name, "at": entry.at}
    return web.json_response(ack | {"comment": entry.reason}, status=201, dumps=dumps)


def add_audit_routes(app: web.Application, line: LineControl) -> None:
    """Serve the audit trail and alarm acknowledgements on ``app`` (the control API)."""
    app[_LINE] = line
    app.router.add_get("/v1/audit", _get_audit, allow_head=False)
    app.router.add_get("/v1/alarms", get_alarms, allow_head=False)
    app.router.add_post("/v1/alarms/{code}/acknowledge", _acknowledge)
