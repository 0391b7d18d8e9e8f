"""What people do at the HMI: log in and out, run the line (hold and unhold with a reason), and
the signed batch steps (close, release).

The screen offers only what the user's role may do, decided by the one permission matrix of
:mod:`linectl.identity`; the same check refuses a forged request here, and the daemon checks
it once more with the user's own session. Signed steps re-ask the password and the meaning.
"""

from __future__ import annotations

import contextlib
from typing import Any
from urllib.parse import quote

import structlog
from aiohttp import web

from linectl.hmi.daemon_link import DaemonUnavailable
from linectl.hmi.pages import render
from linectl.hmi.screens import LINK, OBSERVER
from linectl.hmi.security import EXPIRED, SESSION, SESSIONS, Handler, session_of, set_cookie
from linectl.hmi.sessions import LoginLimit
from linectl.identity import SIGNED_ACTIONS, Permission

log = structlog.get_logger(__name__)

LIMIT = web.AppKey("login_limit", LoginLimit)
PUBLIC = ("/login", "/static/", "/vendor/", "/favicon.ico")
MAX_REASON = 1000
MAX_BATCH = 64
MAX_NAME = 64
MAX_PASSWORD = 1024
UNHOLD_REJECT = "line.unhold-reject"
SIGNATURE_REQUIRED = "signature-required"
LINE_COMMANDS = ("start", "stop", "hold", "unhold", "reset", "suspend", "unsuspend", "clear")


@web.middleware
async def login_required(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Everything but the login page and the static assets needs a logged-in user."""
    if request.path.startswith(PUBLIC) or session_of(request).logged_in:
        return await handler(request)
    if request.path == "/events":
        raise web.HTTPUnauthorized(text="log in first")
    where = "/login?idle=1" if request[EXPIRED] else "/login"
    raise web.HTTPSeeOther(where)


class Refused(Exception):
    """An action the HMI refuses before asking the daemon; the message is shown."""


def field(form: Any, name: str, limit: int, what: str, *, required: bool = True) -> str:
    """A form field, refused with a message when missing or longer than ``limit``."""
    value = str(form.get(name, "")).strip() if name != "password" else str(form.get(name, ""))
    if len(value) > limit:
        raise Refused(f"{what} is too long: at most {limit} characters (got {len(value)})")
    if required and not value:
        raise Refused(f"{what} is required")
    return value


def back_with(request: web.Request, path: str, message: str, *, error: bool) -> web.HTTPSeeOther:
    """Back to ``path`` with a one-time message (kept in the session, not the URL)."""
    session = session_of(request)
    session.flash = (message, error)
    return web.HTTPSeeOther(path)


# --- login / logout ------------------------------------------------------------------------------


async def login_page(request: web.Request) -> web.Response:
    session = session_of(request)
    t = render(request).gettext
    message = None
    if request.query.get("idle"):
        message = t(session.language, "You were logged out after a time without activity.")
    return render(request).page(request, "login.html", message=message)


async def login(request: web.Request) -> web.StreamResponse:
    form = await request.post()
    session = session_of(request)
    t = render(request).gettext
    try:
        user = field(form, "user", MAX_NAME, "user name")
        password = field(form, "password", MAX_PASSWORD, "password")
    except Refused as exc:
        return render(request).page(request, "login.html", 400, message=str(exc), error=True)
    client = request.remote or "?"
    if not request.app[LIMIT].allow(f"ip:{client}", f"user:{user}"):
        log.warning("login rate limit", user=user, client=client)
        text = t(session.language, "Too many login attempts: wait a minute and try again.")
        return render(request).page(request, "login.html", 429, message=text, error=True)
    link = request.app[LINK]
    try:
        status, doc, _ = await link.call(
            "POST", "/v1/sessions", request.app[OBSERVER], {"user": user, "password": password}
        )
    except DaemonUnavailable as exc:
        return render(request).page(request, "login.html", 503, message=str(exc), error=True)
    if status != 201:
        detail = str(doc.get("detail") or f"HTTP {status}")
        return render(request).page(request, "login.html", 401, message=detail, error=True)
    fresh = request.app[SESSIONS].log_in(
        session, doc["user"], str(doc.get("full_name", "")), str(doc["role"]), doc["token"]
    )
    request[SESSION] = fresh
    log.info("HMI login", user=fresh.user, role=fresh.role)
    response = web.HTTPSeeOther("/")
    set_cookie(response, fresh)
    raise response


async def logout(request: web.Request) -> web.StreamResponse:
    session = session_of(request)
    if session.token:
        with contextlib.suppress(DaemonUnavailable):  # else it ends by its idle timeout
            await request.app[LINK].call("DELETE", "/v1/sessions/current", session.token)
    request.app[SESSIONS].log_out(session)
    request[SESSION] = request.app[SESSIONS].new()
    raise web.HTTPSeeOther("/login")


# --- the line ------------------------------------------------------------------------------------


async def ask_daemon(
    request: web.Request, method: str, path: str, body: dict[str, Any]
) -> tuple[bool, str, dict[str, Any]]:
    """(ok, message, answer) of a user's request to the daemon, with their own session."""
    session = session_of(request)
    assert session.token is not None
    try:
        status, doc, _ = await request.app[LINK].call(method, path, session.token, body)
    except DaemonUnavailable as exc:
        return False, str(exc), {}
    if status == 401:
        request.app[SESSIONS].log_out(session)
        raise web.HTTPSeeOther("/login?idle=1")
    if status >= 400:
        return False, str(doc.get("detail") or f"HTTP {status}"), doc
    return True, "", doc


async def command(request: web.Request) -> web.StreamResponse:
    """Start, stop, hold, unhold ... with a reason (and a batch for start).

    An unhold the daemon says is a signed action (after an unconfirmed reject) comes back as
    the signature dialog; sent again from it, it carries the password and the meaning.
    """
    form = await request.post()
    session = session_of(request)
    back = "/batch" if form.get("from") == "batch" else "/"
    name = str(form.get("command", ""))
    if name not in LINE_COMMANDS:
        raise back_with(request, back, f"unknown command {name[:20]!r}", error=True)
    if not session.may(name):
        log.warning("HMI refused a command", user=session.user, role=session.role, command=name)
        raise web.HTTPForbidden(text=f"{session.user} ({session.role}) may not {name}")
    signing = name == "unhold" and "password" in form
    try:
        reason = field(form, "reason", MAX_REASON, "the reason", required=name == "hold" or signing)
        batch = field(form, "batch", MAX_BATCH, "the batch", required=False) or None
        signature = None
        if signing:
            if not session.may(Permission.UNHOLD_REJECT):
                what = "unhold after an unconfirmed reject"
                raise web.HTTPForbidden(text=f"{session.user} ({session.role}) may not {what}")
            password = field(form, "password", MAX_PASSWORD, "your password")
            signature = {"password": password, "meaning": _meaning(form, UNHOLD_REJECT)}
    except Refused as exc:
        if signing:
            return _unhold_dialog(request, reason=str(form.get("reason", ""))[:MAX_REASON],
                                  message=str(exc))  # fmt: skip
        raise back_with(request, back, str(exc), error=True) from None
    body: dict[str, Any] = {"command": name, "reason": reason}
    if batch is not None and name == "start":
        body["batch"] = batch
    if signature is not None:
        body["signature"] = signature
    ok, message, doc = await ask_daemon(request, "POST", "/v1/commands", body)
    kind = str(doc.get("type", "")).rsplit(":", 1)[-1]
    if not ok and name == "unhold" and kind == SIGNATURE_REQUIRED and not signing:
        return _unhold_dialog(request, reason=reason, message=None)  # the daemon asks to sign
    refused = not ok and name == "unhold" and doc.get("status") == 403
    if refused and (signing or kind == "permission-denied"):
        return _unhold_dialog(request, reason=reason, message=message)  # say why, ask again
    if ok:
        state = ((doc.get("status") or {}).get("state") or {}).get("name")
        message = f"{name}: {state}" + (f" ({reason})" if reason else "")
        if sig := doc.get("signature"):
            message += f", signed by {sig.get('by')} ({sig.get('meaning')})"
    raise back_with(request, back, message, error=not ok)


def _unhold_dialog(request: web.Request, *, reason: str, message: str | None) -> web.Response:
    """The signature dialog for an unhold after an unconfirmed reject (password, meaning)."""
    session = session_of(request)
    alarm = next(
        (a for a in request.app[LINK].view.status.get("alarms") or []
         if isinstance(a, dict) and a.get("code") == "reject-unconfirmed"),
        None,
    )  # fmt: skip
    return render(request).page(
        request,
        "unhold_sign.html",
        reason=reason,
        alarm=alarm,
        may_sign=session.may(Permission.UNHOLD_REJECT),
        message=message,
        error=message is not None,
    )


async def close_batch(request: web.Request) -> web.StreamResponse:
    """Close the running batch: the user's electronic signature (password, meaning)."""
    form = await request.post()
    session = session_of(request)
    if not session.may(Permission.BATCH_CLOSE):
        raise web.HTTPForbidden(text=f"{session.user} ({session.role}) may not close a batch")
    try:
        reason = field(form, "reason", MAX_REASON, "the reason", required=False)
        password = field(form, "password", MAX_PASSWORD, "your password")
        meaning = _meaning(form, "batch.close")
    except Refused as exc:
        raise back_with(request, "/batch", str(exc), error=True) from None
    batch = request.app[LINK].view.status.get("batch") or {}
    body = {
        "command": "close-batch",
        "reason": reason,
        "signature": {"password": password, "meaning": meaning},
    }
    ok, message, doc = await ask_daemon(request, "POST", "/v1/commands", body)
    if ok:
        sig = doc.get("signature") or {}
        message = f"batch {batch.get('batch', '')} closed, signed by {sig.get('by')} ({meaning})"
    raise back_with(request, "/batch", message, error=not ok)


async def release_batch(request: web.Request) -> web.StreamResponse:
    """QA releases a closed batch: signature of a second person (the daemon checks who)."""
    form = await request.post()
    session = session_of(request)
    if not session.may(Permission.BATCH_RELEASE):
        raise web.HTTPForbidden(text=f"{session.user} ({session.role}) may not release a batch")
    try:
        batch = field(form, "batch", MAX_BATCH, "the batch")
        reason = field(form, "reason", MAX_REASON, "the reason", required=False)
        password = field(form, "password", MAX_PASSWORD, "your password")
        meaning = _meaning(form, "batch.release")
    except Refused as exc:
        raise back_with(request, "/batch", str(exc), error=True) from None
    body = {"reason": reason, "signature": {"password": password, "meaning": meaning}}
    ok, message, doc = await ask_daemon(
        request, "POST", f"/v1/batches/{quote(batch, safe='')}/release", body
    )
    if ok:
        sig = doc.get("signature") or {}
        message = f"batch {batch} released, signed by {sig.get('printed_name')} ({meaning})"
    raise back_with(request, "/batch", message, error=not ok)


def _meaning(form: Any, action: str) -> str:
    meaning = str(form.get("meaning", ""))
    if meaning not in SIGNED_ACTIONS[action]:
        raise Refused(f"choose the meaning of your signature: {', '.join(SIGNED_ACTIONS[action])}")
    return meaning


def add_action_routes(app: web.Application) -> None:
    app.router.add_get("/login", login_page)
    app.router.add_post("/login", login)
    app.router.add_post("/logout", logout)
    app.router.add_post("/command", command)
    app.router.add_post("/batch/close", close_batch)
    app.router.add_post("/batch/release", release_batch)
