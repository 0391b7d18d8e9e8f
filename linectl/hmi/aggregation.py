"""The aggregation screen: the case and pallet being filled, labels awaiting verification and
diverted containers, the last label verifications; and rework (remove or replace a unit of a
case, reopen or close a case or pallet), each an electronic signature (``rework``: supervisor,
QA), carried out by the daemon (``POST /v1/rework``) as the signing user.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from linectl.hmi.actions import MAX_PASSWORD, MAX_REASON, Refused, ask_daemon, back_with, field
from linectl.hmi.pages import render
from linectl.hmi.screens import fetch
from linectl.hmi.security import session_of
from linectl.identity import SIGNED_ACTIONS, Permission

ACTIONS = ("remove", "replace", "reopen", "close")
MAX_CODE = 64


async def aggregation(request: web.Request) -> web.Response:
    doc, problem = await fetch(request, "/v1/aggregation")
    packing = doc.get("packing") if isinstance(doc.get("packing"), dict) else None
    labels = [x for x in doc.get("labels") or [] if isinstance(x, dict)]
    extra: dict[str, Any] = {"message": problem, "error": True} if problem else {}
    return render(request).page(
        request, "aggregation.html", packing=packing, labels=labels, actions=ACTIONS, **extra
    )


async def rework(request: web.Request) -> web.StreamResponse:
    """One signed rework step."""
    form = await request.post()
    session = session_of(request)
    if not session.may(Permission.REWORK):
        raise web.HTTPForbidden(text=f"{session.user} ({session.role}) may not rework")
    try:
        action = str(form.get("action", ""))
        if action not in ACTIONS:
            raise Refused(f"choose the rework: {', '.join(ACTIONS)}")
        body: dict[str, Any] = {
            "action": action,
            "sscc": field(form, "sscc", MAX_CODE, "the SSCC"),
            "serial": field(
                form, "serial", MAX_CODE, "the serial", required=action in ("remove", "replace")
            ),
            "new_serial": field(
                form, "new_serial", MAX_CODE, "the new serial", required=action == "replace"
            ),
            "reason": field(form, "reason", MAX_REASON, "the reason"),
        }
        meaning = str(form.get("meaning", ""))
        if meaning not in SIGNED_ACTIONS["rework"]:
            raise Refused(
                f"choose the meaning of your signature: {', '.join(SIGNED_ACTIONS['rework'])}"
            )
        password = field(form, "password", MAX_PASSWORD, "your password")
    except Refused as exc:
        raise back_with(request, "/aggregation", str(exc), error=True) from None
    body = {k: v for k, v in body.items() if v}
    body["signature"] = {"password": password, "meaning": meaning}
    ok, message, doc = await ask_daemon(request, "POST", "/v1/rework", body)
    if ok:
        sig = doc.get("signature") or {}
        relabel = ", ".join(doc.get("relabel") or [])
        message = (
            f"{action} {body['sscc']} done, signed by {sig.get('by')} ({sig.get('meaning')}): "
            f"{len(doc.get('events') or [])} events" + (f"; relabel {relabel}" if relabel else "")
        )
    raise back_with(request, "/aggregation", message, error=not ok)


def add_aggregation_routes(app: web.Application) -> None:
    app.router.add_get("/aggregation", aggregation)
    app.router.add_post("/aggregation/rework", rework)
