"""The HMI's rejects screen (camera images and charts) and the daemon credential of a request.

Everything shown comes from the daemon through the control API, asked with the logged-in
user's own credential (:func:`credential`), so the daemon checks the role again.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from linectl.hmi.daemon_link import DaemonLink, DaemonUnavailable
from linectl.hmi.messages import Msg, daemon_problem
from linectl.hmi.pages import VIEW, render
from linectl.hmi.security import refusal, session_of

LINK = web.AppKey("link", DaemonLink)
OBSERVER = web.AppKey("observer_token", str)


def credential(request: web.Request) -> str:
    """The token the daemon sees for this request: the user's own session at the daemon."""
    session = session_of(request)
    return session.token or request.app[OBSERVER]


def unavailable(exc: DaemonUnavailable) -> Msg:
    """The message for a daemon that did not answer (where the HMI looked, as the detail)."""
    return Msg.key("problem", "daemon-unavailable", detail=str(exc))


async def fetch(request: web.Request, path: str) -> tuple[dict[str, Any], Msg | None]:
    """A document from the daemon, asked as the user; ({}, why) when it could not answer."""
    try:
        status, doc, _ = await request.app[LINK].call("GET", path, credential(request))
    except DaemonUnavailable as exc:
        return {}, unavailable(exc)
    if status == 200:
        return doc, None
    return {}, daemon_problem(status, doc)


async def rejects(request: web.Request) -> web.Response:
    """The last rejected packs (time, seq, reason, image), the Pareto of reasons, the rate."""
    doc, message = await fetch(request, "/v1/rejects")
    kept = [r for r in doc.get("rejects") or [] if isinstance(r, dict)]
    view = request.app[VIEW].summary()
    return render(request).page(
        request, "rejects.html", rejects=kept, view=view, message=message, error=bool(message)
    )


async def reject_image(request: web.Request) -> web.Response:
    """The camera frame of a rejected pack, from the daemon's ring."""
    raw = request.match_info["seq"]
    if not raw.isdigit() or len(raw) > 12:
        raise refusal(request, web.HTTPNotFound, Msg("No such pack."))
    try:
        status, _, body = await request.app[LINK].call(
            "GET", f"/v1/rejects/{int(raw)}.png", credential(request)
        )
    except DaemonUnavailable as exc:
        raise refusal(request, web.HTTPServiceUnavailable, unavailable(exc)) from None
    if status != 200:
        no_image = Msg("No image of pack %(seq)s is kept any more.", seq=raw)
        raise refusal(request, web.HTTPNotFound, no_image)
    return web.Response(
        body=body, content_type="image/png", headers={"Cache-Control": "private, max-age=3600"}
    )


def add_screen_routes(app: web.Application) -> None:
    app.router.add_get("/rejects", rejects)
    app.router.add_get(r"/rejects/{seq}.png", reject_image)
