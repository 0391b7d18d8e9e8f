"""The HMI's rejects screen (camera images and charts) and the daemon credential of a request.

Everything shown comes from the daemon through the control API, asked with the logged-in
user's own credential (:func:`credential`), so the daemon checks the role again.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from linectl.hmi.daemon_link import DaemonLink, DaemonUnavailable
from linectl.hmi.pages import VIEW, render
from linectl.hmi.security import session_of

LINK = web.AppKey("link", DaemonLink)
OBSERVER = web.AppKey("observer_token", str)


def credential(request: web.Request) -> str:
    """The token the daemon sees for this request: the user's own session at the daemon."""
    session = session_of(request)
    return session.token or request.app[OBSERVER]


async def fetch(request: web.Request, path: str) -> tuple[dict[str, Any], str]:
    """A document from the daemon, asked as the user; ({}, why) when it could not answer."""
    try:
        status, doc, _ = await request.app[LINK].call("GET", path, credential(request))
    except DaemonUnavailable as exc:
        return {}, str(exc)
    if status == 200:
        return doc, ""
    return {}, str(doc.get("detail") or f"HTTP {status}")


async def rejects(request: web.Request) -> web.Response:
    """The last rejected packs (time, seq, reason, image), the Pareto of reasons, the rate."""
    link = request.app[LINK]
    kept: list[dict[str, Any]] = []
    message = None
    try:
        status, doc, _ = await link.call("GET", "/v1/rejects", credential(request))
        if status == 200:
            kept = [r for r in doc.get("rejects", []) if isinstance(r, dict)]
        else:
            message = str(doc.get("detail") or f"HTTP {status}")
    except DaemonUnavailable:
        message = render(request).gettext(
            session_of(request).language, "The line's daemon does not answer."
        )
    view = request.app[VIEW].summary()
    return render(request).page(
        request, "rejects.html", rejects=kept, view=view, message=message, error=bool(message)
    )


async def reject_image(request: web.Request) -> web.Response:
    """The camera frame of a rejected pack, from the daemon's ring."""
    raw = request.match_info["seq"]
    if not raw.isdigit() or len(raw) > 12:
        raise web.HTTPNotFound(text="no such pack")
    try:
        status, _, body = await request.app[LINK].call(
            "GET", f"/v1/rejects/{int(raw)}.png", credential(request)
        )
    except DaemonUnavailable as exc:
        raise web.HTTPServiceUnavailable(text=str(exc)) from None
    if status != 200:
        raise web.HTTPNotFound(text=f"no image of pack {raw} is kept any more")
    return web.Response(
        body=body, content_type="image/png", headers={"Cache-Control": "private, max-age=3600"}
    )


def add_screen_routes(app: web.Application) -> None:
    app.router.add_get("/rejects", rejects)
    app.router.add_get(r"/rejects/{seq}.png", reject_image)
