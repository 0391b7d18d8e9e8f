"""The HMI's web security: session cookie, CSRF on every state change, security headers.

- The session cookie is ``__Host-`` prefixed, Secure, HttpOnly and SameSite=Strict.
- Every POST carries the session's CSRF token (form field ``csrf``, or header ``X-CSRF-Token``)
  and, when the browser sends one, an ``Origin`` of this very host; otherwise it is refused.
- Every answer carries a Content Security Policy with no inline script, HSTS, nosniff and no
  framing. Pages are Jinja templates with autoescaping on, so any text a user gave is escaped.
"""

from __future__ import annotations

import hmac
from collections.abc import Awaitable, Callable
from urllib.parse import urlsplit

from aiohttp import web

from linectl.hmi.messages import TRANSLATIONS, Msg
from linectl.hmi.sessions import COOKIE, HmiSession, Sessions

CSP = "; ".join(
    (
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self' 'unsafe-inline'",  # the charting library sets inline styles
        "img-src 'self' data:",
        "connect-src 'self'",
        "font-src 'self'",
        "object-src 'none'",
        "base-uri 'none'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    )
)
HEADERS = {
    "Content-Security-Policy": CSP,
    "Strict-Transport-Security": "max-age=31536000",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",  # "no-referrer" would send Origin: null on POST
    "X-Frame-Options": "DENY",
    "Cross-Origin-Opener-Policy": "same-origin",
}

LIVE_HEADER = "X-HMI-Live"
MAX_BODY = 16 * 1024  # bytes of a request: forms are small
SESSIONS = web.AppKey("sessions", Sessions)
SESSION = web.RequestKey("hmi_session", HmiSession)
EXPIRED = web.RequestKey("hmi_expired", bool)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


class CsrfRefused(web.HTTPForbidden):
    """A state change without this session's CSRF token."""


def session_of(request: web.Request) -> HmiSession:
    session: HmiSession = request[SESSION]
    return session


def in_words(request: web.Request, message: Msg) -> str:
    """``message`` in the user's language as plain text (the daemon's words on a line below)."""
    language = session_of(request).language
    text = message.text(request.app[TRANSLATIONS][language], language)
    return f"{text}\n{message.detail}" if message.detail else text


def refusal(request: web.Request, error: type[web.HTTPError], message: Msg) -> web.HTTPError:
    """An HTTP error whose plain-text body is ``message`` in the user's language."""
    return error(text=in_words(request, message))


def _same_origin(request: web.Request) -> bool:
    origin = request.headers.get("Origin")
    if origin is None or origin == "null":
        return origin is None
    return urlsplit(origin).netloc == request.host


@web.middleware
async def security(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Attach the session (new if none), check CSRF on POST, add the headers to the answer."""
    sessions = request.app[SESSIONS]
    live = request.headers.get(LIVE_HEADER) == "1"  # a live screen re-reading itself
    session, expired = sessions.get(request.cookies.get(COOKIE), active=not live)
    fresh = session is None
    if session is None:
        session = sessions.new()
    request[SESSION] = session
    request[EXPIRED] = expired
    try:
        await _check_csrf(request, session)
        response = await handler(request)
    except web.HTTPException as exc:
        _in_words(request, exc)
        _finish(exc, request, fresh)
        raise
    _finish(response, request, fresh)
    return response


async def _check_csrf(request: web.Request, session: HmiSession) -> None:
    """A state change must come from this HMI's pages with the session's CSRF token."""
    if request.method not in ("GET", "HEAD", "OPTIONS"):
        if not _same_origin(request):
            raise refusal(
                request,
                CsrfRefused,
                Msg("Refused: the request did not come from this HMI's pages."),
            )
        given = request.headers.get("X-CSRF-Token")
        if given is None and request.content_type in (
            "application/x-www-form-urlencoded",
            "multipart/form-data",
        ):
            given = str((await request.post()).get("csrf", ""))
        if not given or not hmac.compare_digest(given.encode(), session.csrf.encode()):
            raise refusal(
                request, CsrfRefused, Msg("Refused: the form's security token is missing or wrong.")
            )


def _in_words(request: web.Request, exc: web.HTTPException) -> None:
    """aiohttp's own refusals (no such page, wrong method, a body too large) in the user's
    language, like the HMI's."""
    stock = {
        404: Msg("No such page."),
        405: Msg("This page does not take this kind of request."),
        413: Msg("The form is too large: at most %(limit)s bytes.", limit=MAX_BODY),
    }
    text = exc.text or ""
    if exc.status in stock and (
        not text or text.startswith((f"{exc.status}: ", "Maximum request body size"))
    ):
        exc.text = in_words(request, stock[exc.status])
        exc.content_type, exc.charset = "text/plain", "utf-8"


def _finish(response: web.StreamResponse, request: web.Request, fresh: bool) -> None:
    if not response.prepared:
        response.headers.update(HEADERS)
    current = session_of(request)
    if (fresh or current.id != request.cookies.get(COOKIE)) and not response.prepared:
        set_cookie(response, current)


def set_cookie(response: web.StreamResponse, session: HmiSession) -> None:
    response.set_cookie(COOKIE, session.id, path="/", secure=True, httponly=True, samesite="Strict")
