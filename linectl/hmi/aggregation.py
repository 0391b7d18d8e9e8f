"""The aggregation screen: the case and pallet being filled, labels awaiting verification and
diverted containers, the last label verifications; and rework (remove or replace a unit of a
case, reopen or close a case or pallet), each an electronic signature (``rework``: supervisor,
QA), carried out by the daemon (``POST /v1/rework``) as the signing user.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from linectl.hmi.actions import (
    MAX_PASSWORD,
    MAX_REASON,
    Refused,
    ask_daemon,
    back_with,
    field,
    not_allowed,
)
from linectl.hmi.messages import Msg
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
        raise not_allowed(request, "rework")
    try:
        action = str(form.get("action", ""))
        if action not in ACTIONS:
            raise Refused(Msg("Choose the rework to do."))
        body: dict[str, Any] = {
            "action": action,
            "sscc": field(form, "sscc", MAX_CODE, Msg("SSCC")),
            "serial": field(
                form, "serial", MAX_CODE, Msg("Serial"), required=action in ("remove", "replace")
            ),
            "new_serial": field(
                form,
                "new_serial",
                MAX_CODE,
                Msg("New serial (replace)"),
                required=action == "replace",
            ),
            "reason": field(form, "reason", MAX_REASON, Msg("Reason")),
        }
        meaning = str(form.get("meaning", ""))
        if meaning not in SIGNED_ACTIONS["rework"]:
            raise Refused(Msg("Choose the meaning of your signature."))
        password = field(form, "password", MAX_PASSWORD, Msg("Password (signature)"))
    except Refused as exc:
        raise back_with(request, "/aggregation", exc.message, error=True) from None
    body = {k: v for k, v in body.items() if v}
    body["signature"] = {"password": password, "meaning": meaning}
    refused, doc = await ask_daemon(request, "POST", "/v1/rework", body)
    raise back_with(
        request,
        "/aggregation",
        refused or _reworked(action, body["sscc"], doc),
        error=bool(refused),
    )


def _reworked(action: str, sscc: str, doc: dict[str, Any]) -> Msg:
    """The message for a rework step the daemon did (and the containers to relabel)."""
    sig = doc.get("signature") or {}
    values: dict[str, str | int | Msg] = {
        "action": Msg.key("rework", action),
        "sscc": sscc,
        "by": str(sig.get("by")),
        "meaning": Msg.key("meaning", sig.get("meaning")),
        "events": len(doc.get("events") or []),
    }
    relabel = ", ".join(str(x) for x in doc.get("relabel") or [])
    if relabel:
        return Msg(
            "%(action)s %(sscc)s: done, signed by %(by)s (%(meaning)s), %(events)s events; "
            "relabel %(relabel)s.",
            relabel=relabel,
            **values,
        )
    return Msg(
        "%(action)s %(sscc)s: done, signed by %(by)s (%(meaning)s), %(events)s events.", **values
    )


def add_aggregation_routes(app: web.Application) -> None:
    app.router.add_get("/aggregation", aggregation)
    app.router.add_post("/aggregation/rework", rework)
