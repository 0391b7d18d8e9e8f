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
from linectl.hmi.messages import Msg, daemon_problem
from linectl.hmi.pages import render
from linectl.hmi.screens import LINK, OBSERVER, unavailable
from linectl.hmi.security import (
    EXPIRED,
    SESSION,
    SESSIONS,
    Handler,
    refusal,
    session_of,
    set_cookie,
)
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
        raise refusal(request, web.HTTPUnauthorized, Msg("Log in first."))
    where = "/login?idle=1" if request[EXPIRED] else "/login"
    raise web.HTTPSeeOther(where)


class Refused(Exception):
    """An action the HMI refuses before asking the daemon; ``message`` is shown."""

    def __init__(self, message: Msg) -> None:
        super().__init__(message.id)
        self.message = message


def field(form: Any, name: str, limit: int, what: Msg, *, required: bool = True) -> str:
    """A form field, refused with a message when missing or longer than ``limit``; ``what`` is
    the field's label on the form."""
    value = str(form.get(name, "")).strip() if name != "password" else str(form.get(name, ""))
    if len(value) > limit:
        raise Refused(
            Msg(
                "%(what)s is too long: at most %(limit)s characters (got %(got)s).",
                what=what,
                limit=limit,
                got=len(value),
            )
        )
    if required and not value:
        raise Refused(Msg("%(what)s is required.", what=what))
    return value


def not_allowed(request: web.Request, what: str) -> web.HTTPError:
    """403 for a request the user's role may not make (``what``: a ``command:`` key)."""
    session = session_of(request)
    log.warning("HMI refused", user=session.user, role=session.role, what=what)
    return refusal(
        request,
        web.HTTPForbidden,
        Msg(
            "%(user)s (%(role)s) may not do this: %(what)s.",
            user=session.user or "-",
            role=Msg.key("role", session.role),
            what=Msg.key("command", what),
        ),
    )


def back_with(request: web.Request, path: str, message: Msg, *, error: bool) -> web.HTTPSeeOther:
    """Back to ``path`` with a one-time message (kept in the session, not the URL)."""
    session = session_of(request)
    session.flash = (message, error)
    return web.HTTPSeeOther(path)


# --- login / logout ------------------------------------------------------------------------------


async def login_page(request: web.Request) -> web.Response:
    session = session_of(request)
    del session
    message = None
    if request.query.get("idle"):
        message = Msg("You were logged out after a time without activity.")
    return render(request).page(request, "login.html", message=message)


async def login(request: web.Request) -> web.StreamResponse:
    form = await request.post()
    session = session_of(request)
    try:
        user = field(form, "user", MAX_NAME, Msg("User name"))
        password = field(form, "password", MAX_PASSWORD, Msg("Password"))
    except Refused as exc:
        return render(request).page(request, "login.html", 400, message=exc.message, error=True)
    client = request.remote or "?"
    if not request.app[LIMIT].allow(f"ip:{client}", f"user:{user}"):
        log.warning("login rate limit", user=user, client=client)
        text = Msg("Too many login attempts: wait a minute and try again.")
        return render(request).page(request, "login.html", 429, message=text, error=True)
    link = request.app[LINK]
    try:
        status, doc, _ = await link.call(
            "POST", "/v1/sessions", request.app[OBSERVER], {"user": user, "password": password}
        )
    except DaemonUnavailable as exc:
        return render(request).page(
            request, "login.html", 503, message=unavailable(exc), error=True
        )
    if status != 201:
        refused = daemon_problem(status, doc)
        return render(request).page(request, "login.html", 401, message=refused, error=True)
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
) -> tuple[Msg | None, dict[str, Any]]:
    """(refusal or None, answer) of a user's request to the daemon, with their own session."""
    session = session_of(request)
    assert session.token is not None
    try:
        status, doc, _ = await request.app[LINK].call(method, path, session.token, body)
    except DaemonUnavailable as exc:
        return unavailable(exc), {}
    if status == 401:
        request.app[SESSIONS].log_out(session)
        raise web.HTTPSeeOther("/login?idle=1")
    if status >= 400:
        return daemon_problem(status, doc), doc
    request.app[LINK].view.touch()  # what the user did may show on other screens
    return None, doc


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
        raise back_with(request, back, Msg("Unknown command %(command)s.", command=name[:20]),
                        error=True)  # fmt: skip
    if not session.may(name):
        raise not_allowed(request, name)
    signing = name == "unhold" and "password" in form
    try:
        reason = field(
            form, "reason", MAX_REASON, Msg("Reason"), required=name == "hold" or signing
        )
        batch = field(form, "batch", MAX_BATCH, Msg("Batch"), required=False) or None
        signature = None
        if signing:
            if not session.may(Permission.UNHOLD_REJECT):
                raise not_allowed(request, UNHOLD_REJECT)
            password = field(form, "password", MAX_PASSWORD, Msg("Password (signature)"))
            signature = {"password": password, "meaning": _meaning(form, UNHOLD_REJECT)}
    except Refused as exc:
        if signing:
            return _unhold_dialog(request, reason=str(form.get("reason", ""))[:MAX_REASON],
                                  message=exc.message)  # fmt: skip
        raise back_with(request, back, exc.message, error=True) from None
    body: dict[str, Any] = {"command": name, "reason": reason}
    if batch is not None and name == "start":
        body["batch"] = batch
    if signature is not None:
        body["signature"] = signature
    refused, doc = await ask_daemon(request, "POST", "/v1/commands", body)
    kind = str(doc.get("type", "")).rsplit(":", 1)[-1]
    if refused and name == "unhold" and kind == SIGNATURE_REQUIRED and not signing:
        return _unhold_dialog(request, reason=reason, message=None)  # the daemon asks to sign
    refused_unhold = refused is not None and name == "unhold" and doc.get("status") == 403
    if refused_unhold and (signing or kind == "permission-denied"):
        return _unhold_dialog(request, reason=reason, message=refused)  # say why, ask again
    raise back_with(request, back, refused or _done(name, reason, doc), error=bool(refused))


def _done(name: str, reason: str, doc: dict[str, Any]) -> Msg:
    """What a command the daemon accepted did: the state it left the line in, its signature."""
    state = ((doc.get("status") or {}).get("state") or {}).get("name")
    shown = Msg.key("state", state) if state else Msg("unknown")
    if sig := doc.get("signature"):
        return Msg(
            "%(command)s: the line is %(state)s, signed by %(by)s (%(meaning)s). Reason: "
            "%(reason)s",
            command=Msg.key("command", name),
            state=shown,
            by=str(sig.get("by")),
            meaning=Msg.key("meaning", sig.get("meaning")),
            reason=reason,
        )
    if reason:
        return Msg(
            "%(command)s: the line is %(state)s. Reason: %(reason)s",
            command=Msg.key("command", name),
            state=shown,
            reason=reason,
        )
    return Msg("%(command)s: the line is %(state)s.", command=Msg.key("command", name), state=shown)


def _unhold_dialog(request: web.Request, *, reason: str, message: Msg | None) -> web.Response:
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
        raise not_allowed(request, "close-batch")
    try:
        reason = field(form, "reason", MAX_REASON, Msg("Reason"), required=False)
        password = field(form, "password", MAX_PASSWORD, Msg("Password (signature)"))
        meaning = _meaning(form, "batch.close")
    except Refused as exc:
        raise back_with(request, "/batch", exc.message, error=True) from None
    batch = request.app[LINK].view.status.get("batch") or {}
    body = {
        "command": "close-batch",
        "reason": reason,
        "signature": {"password": password, "meaning": meaning},
    }
    refused, doc = await ask_daemon(request, "POST", "/v1/commands", body)
    done = Msg(
        "Batch %(batch)s closed, signed by %(by)s (%(meaning)s).",
        batch=str(batch.get("batch", "")),
        by=str((doc.get("signature") or {}).get("by")),
        meaning=Msg.key("meaning", meaning),
    )
    raise back_with(request, "/batch", refused or done, error=bool(refused))


async def release_batch(request: web.Request) -> web.StreamResponse:
    """QA releases a closed batch: signature of a second person (the daemon checks who)."""
    form = await request.post()
    session = session_of(request)
    if not session.may(Permission.BATCH_RELEASE):
        raise not_allowed(request, "release")
    try:
        batch = field(form, "batch", MAX_BATCH, Msg("Batch"))
        reason = field(form, "reason", MAX_REASON, Msg("Reason"), required=False)
        password = field(form, "password", MAX_PASSWORD, Msg("Password (signature)"))
        meaning = _meaning(form, "batch.release")
    except Refused as exc:
        raise back_with(request, "/batch", exc.message, error=True) from None
    body = {"reason": reason, "signature": {"password": password, "meaning": meaning}}
    refused, doc = await ask_daemon(
        request, "POST", f"/v1/batches/{quote(batch, safe='')}/release", body
    )
    done = Msg(
        "Batch %(batch)s released, signed by %(by)s (%(meaning)s).",
        batch=batch,
        by=str((doc.get("signature") or {}).get("printed_name")),
        meaning=Msg.key("meaning", meaning),
    )
    raise back_with(request, "/batch", refused or done, error=bool(refused))


def _meaning(form: Any, action: str) -> str:
    meaning = str(form.get("meaning", ""))
    if meaning not in SIGNED_ACTIONS[action]:
        raise Refused(Msg("Choose the meaning of your signature."))
    return meaning


def add_action_routes(app: web.Application) -> None:
    app.router.add_get("/login", login_page)
    app.router.add_post("/login", login)
    app.router.add_post("/logout", logout)
    app.router.add_post("/command", command)
    app.router.add_post("/batch/close", close_batch)
    app.router.add_post("/batch/release", release_batch)
