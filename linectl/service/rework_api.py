"""Aggregation through the control API: ``GET /v1/aggregation`` (the case and pallet being
filled, labels awaiting verification, diverted containers, and the last label verifications of
the audit trail) and ``POST /v1/rework`` (remove or replace a unit of a case, reopen or close a
case or pallet), each an electronic signature of a user with ``rework``, as ``linectl case ...``
signs it (21 CFR 11.50: password, then the step, then the signature over what it did).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from typing import Any

from aiohttp import web

from linectl.aggregation.rework import Rework, ReworkResult
from linectl.config import LineSection
from linectl.identity import IdentityError, Permission, Signatures
from linectl.identity.matrix import SIGNED_ACTIONS
from linectl.ledger import LedgerError, ValidationError
from linectl.ledger.identity_rows import find_audit
from linectl.line.control import LineControl
from linectl.service.api_auth import IDENTITY, Forbidden, parse_signature, require
from linectl.service.problems import MAX_REASON, BadInput, dumps, json_object, problem

LABELS_SHOWN = 20
ACTIONS = ("remove", "replace", "reopen", "close")
_FIELDS = frozenset({"action", "sscc", "serial", "new_serial", "reason", "signature"})
_LINE = web.AppKey("rework_line", LineControl)
_SECTION = web.AppKey("rework_section", LineSection)


def _labels(request: web.Request) -> list[dict[str, Any]]:
    identity = request.app[IDENTITY]
    with identity.ledger.identity.read() as rows:
        found = find_audit(rows, command="label.verify", limit=LABELS_SHOWN, newest_first=True)
    out = []
    for e in found:
        after = json.loads(e.after) if e.after else {}
        out.append(
            {
                "at": e.at,
                "sscc": after.get("sscc"),
                "level": after.get("level"),
                "ok": bool(after.get("ok")),
                "read": after.get("read"),
                "reason": e.reason,
            }
        )
    return out


async def _get_aggregation(request: web.Request) -> web.Response:
    await require(request, Permission.VIEW, "see the aggregation")
    packing = request.app[_LINE].status().get("packing")
    labels = await asyncio.to_thread(_labels, request)
    return web.json_response({"packing": packing, "labels": labels}, dumps=dumps)


def _text(body: dict[str, Any], name: str, *, required: bool, limit: int = 64) -> str:
    value = body.get(name, "")
    if not isinstance(value, str) or len(value) > limit or (required and not value.strip()):
        need = "required: " if required else ""
        raise BadInput(name, f"field {name!r} is {need}a string of at most {limit} characters")
    return value.strip()


def parse_rework(body: dict[str, Any]) -> dict[str, str]:
    """The fields of ``POST /v1/rework``, checked: which action needs which field."""
    for name in body:
        if name not in _FIELDS:
            raise BadInput(name, f"unknown field {name!r} (allowed: {', '.join(sorted(_FIELDS))})")
    action = body.get("action")
    if action not in ACTIONS:
        raise BadInput(
            "action", f"field 'action' is {action!r}; expected one of: {', '.join(ACTIONS)}"
        )
    out = {"action": str(action), "sscc": _text(body, "sscc", required=True)}
    out["serial"] = _text(body, "serial", required=action in ("remove", "replace"))
    out["new_serial"] = _text(body, "new_serial", required=action == "replace")
    out["reason"] = _text(body, "reason", required=True, limit=MAX_REASON)
    return out


def _step(rework: Rework, f: dict[str, str], actor: str) -> Callable[[], ReworkResult]:
    who = {"actor": actor, "reason": f["reason"]}
    steps: dict[str, Callable[[], ReworkResult]] = {
        "remove": lambda: rework.remove_unit(f["sscc"], f["serial"], **who),
        "replace": lambda: rework.replace_unit(f["sscc"], f["serial"], f["new_serial"], **who),
        "reopen": lambda: rework.reopen(f["sscc"], **who),
        "close": lambda: rework.close(f["sscc"], **who),
    }
    return steps[f["action"]]


async def _post_rework(request: web.Request) -> web.Response:
    body = await json_object(request)
    fields = parse_rework(body)
    signature = parse_signature(body)
    what = f"rework ({fields['action']} {fields['sscc']})"
    principal = await require(request, Permission.REWORK, what)
    if signature is None:
        raise BadInput("signature", 'rework is signed: send "signature": {"password": ...}')
    password, meaning = signature[0], signature[1] or SIGNED_ACTIONS["rework"][0]
    section = request.app.get(_SECTION)
    if section is None:
        return problem(503, "Rework unavailable", "this API has no line section", kind="no-line")
    identity = request.app[IDENTITY]
    signatures = Signatures(identity)
    try:
        user = await asyncio.to_thread(
            signatures.authenticate, principal, password, "rework", meaning
        )
    except IdentityError as exc:
        raise Forbidden(exc) from None
    step = _step(Rework(identity.ledger, section), fields, principal.name)
    try:
        result = await asyncio.to_thread(step)
    except ValidationError as exc:
        raise BadInput(exc.field, str(exc)) from None
    except LedgerError as exc:
        return problem(409, "Rework refused", str(exc), kind="rework-refused")
    subject = f"{fields['action']} {fields['sscc']}"
    record = {"command": subject, "reason": fields["reason"], "events": list(result.events)}
    sig = await asyncio.to_thread(
        signatures.record, user, "rework", meaning, subject, record, fields["reason"]
    )
    answer = {
        "action": fields["action"],
        "sscc": fields["sscc"],
        "events": [{"kind": k, "event_id": e} for k, e in result.events],
        "relabel": list(result.relabel),
        "signature": {
            "by": sig.printed_name,
            "user": sig.user_name,
            "at": sig.at,
            "meaning": sig.meaning,
        },
    }
    return web.json_response(answer, dumps=dumps)


def add_rework_routes(app: web.Application, line: LineControl, section: LineSection | None) -> None:
    """Serve the aggregation view and signed rework on ``app`` (the control API)."""
    app[_LINE] = line
    if section is not None:
        app[_SECTION] = section
    app.router.add_get("/v1/aggregation", _get_aggregation, allow_head=False)
    app.router.add_post("/v1/rework", _post_rework)
