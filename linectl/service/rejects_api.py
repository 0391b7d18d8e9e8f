"""``GET /v1/rejects`` and ``GET /v1/rejects/{seq}.png``: the recently rejected packs and their
camera frames, kept by the daemon in a bounded ring (:mod:`linectl.line.reject_frames`).

Registered on the control API's application, so the API's authentication covers them; every
role may view the line, so they need nothing more. A frame is PNG-encoded on a worker thread
when asked for, never on the pack path.
"""

from __future__ import annotations

import asyncio

from aiohttp import web

from linectl.line.control import LineControl
from linectl.line.reject_frames import frame_png

_LINE = web.AppKey("rejects_line", LineControl)


async def _list(request: web.Request) -> web.Response:
    ring = request.app[_LINE].reject_frames()
    return web.json_response({"rejects": [r.summary() for r in ring.recent()]})


async def _image(request: web.Request) -> web.Response:
    raw = request.match_info["seq"]
    if not raw.isdigit() or len(raw) > 12:
        raise web.HTTPNotFound(text=f"no reject frame {raw!r}: seq is a number")
    kept = request.app[_LINE].reject_frames().get(int(raw))
    if kept is None:
        raise web.HTTPNotFound(text=f"no frame of a rejected pack {raw} is kept (any more)")
    png = await asyncio.to_thread(frame_png, kept.frame)
    return web.Response(
        body=png, content_type="image/png", headers={"Cache-Control": "private, max-age=3600"}
    )


def add_reject_routes(app: web.Application, line: LineControl) -> None:
    """Serve the reject ring of ``line`` on ``app`` (the control API)."""
    app[_LINE] = line
    app.router.add_get("/v1/rejects", _list, allow_head=False)
    app.router.add_get(r"/v1/rejects/{seq}.png", _image, allow_head=False)
