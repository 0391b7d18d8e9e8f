"""The alarms screen (active, history, acknowledge with a comment) and the audit screen (the
trail, by batch and user; supervisor, QA, engineer and admin: ``audit.view``).

Acknowledgements are made by the daemon (``POST /v1/alarms/{code}/acknowledge``) as the
logged-in user and kept in its audit trail, so they outlive an HMI or daemon restart.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from aiohttp import web

from linectl.hmi.actions import MAX_REASON, Refused, ask_daemon, back_with, field, not_allowed
from linectl.hmi.messages import Msg
from linectl.hmi.pages import VIEW, render
from linectl.hmi.screens import fetch
from linectl.hmi.security import session_of
from linectl.identity import Permission

MAX_FILTER = 64
AUDIT_ROWS = 200


async def alarms(request: web.Request) -> web.Response:
    """Active alarms with their acknowledgement, the raises and clears the HMI has seen since
    it started, and the daemon's last acknowledgements."""
    view = request.app[VIEW]
    doc, problem = await fetch(request, "/v1/alarms")
    if doc:
        active = [a for a in doc.get("alarms") or [] if isinstance(a, dict)]
    else:  # the daemon did not answer: what the event stream last said
        active = [a | {"acknowledged": None} for a in view.status.get("alarms") or []]
    acks = [a for a in doc.get("acknowledgements") or [] if isinstance(a, dict)]
    extra: dict[str, Any] = {"message": problem, "error": True} if problem else {}
    return render(request).page(
        request,
        "alarms.html",
        active=active,
        history=list(view.alarm_history),
        acks=acks,
        **extra,
    )


async def acknowledge(request: web.Request) -> web.StreamResponse:
    """Acknowledge an active alarm with a comment (``line.run``)."""
    form = await request.post()
    session = session_of(request)
    if not session.may(Permission.LINE_RUN):
        raise not_allowed(request, "acknowledge")
    try:
        code = field(form, "code", 200, Msg("Alarm"))
        comment = field(form, "comment", MAX_REASON, Msg("Comment"))
    except Refused as exc:
        raise back_with(request, "/alarms", exc.message, error=True) from None
    path = f"/v1/alarms/{quote(code, safe='')}/acknowledge"
    refused, doc = await ask_daemon(request, "POST", path, {"comment": comment})
    done = Msg(
        "Alarm %(code)s acknowledged by %(user)s: %(comment)s",
        code=code,
        user=str(doc.get("user")),
        comment=comment,
    )
    raise back_with(request, "/alarms", refused or done, error=bool(refused))


def _filter(request: web.Request, name: str, label: Msg) -> str:
    return field(request.query, name, MAX_FILTER, label, required=False)


async def audit(request: web.Request) -> web.Response:
    """The audit trail, newest first, filtered by batch and user."""
    session = session_of(request)
    if not session.may(Permission.AUDIT_VIEW):
        raise not_allowed(request, "audit")
    entries: list[dict[str, Any]] = []
    try:
        batch, user = _filter(request, "batch", Msg("Batch")), _filter(request, "user", Msg("User"))
    except Refused as exc:
        return render(request).page(
            request, "audit.html", 400, entries=[], batch="", user="", message=exc.message,
            error=True,
        )  # fmt: skip
    query = "&".join(f"{k}={quote(v, safe='')}" for k, v in (("batch", batch), ("user", user)) if v)
    doc, problem = await fetch(request, f"/v1/audit?limit={AUDIT_ROWS}&{query}")
    entries = [e | {"detail": _detail(e)} for e in doc.get("entries") or [] if isinstance(e, dict)]
    extra: dict[str, Any] = {"message": problem, "error": True} if problem else {}
    return render(request).page(
        request, "audit.html", entries=entries, batch=batch, user=user, **extra
    )


def _detail(entry: dict[str, Any]) -> str:
    """What an audit row changed, in one line (as ``linectl audit show`` prints it)."""
    after = entry.get("after")
    if not isinstance(after, dict):
        return ""
    return ", ".join(f"{k}={v}" for k, v in after.items() if not isinstance(v, dict))[:300]


def add_record_routes(app: web.Application) -> None:
    app.router.add_get("/alarms", alarms)
    app.router.add_post("/alarms/acknowledge", acknowledge)
    app.router.add_get("/audit", audit)
