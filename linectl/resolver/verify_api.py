"""The verification page and the partner API.

- ``GET /verify/01/{gtin}/10/{lot}/21/{serial}``: the page for people (one scan logged).
- ``GET /api/v1/verify?code=<Digital Link>``: the same verdict as JSON, for partner apps
  (one scan logged; ``country`` and ``lang`` as query parameters).
- ``POST /api/v1/decommission`` (Bearer partner token) ``{"code", "reason"}`` with reason
  ``dispensed``, ``exported`` or ``destroyed`` (each partner may use only its configured ones);
  ``POST /api/v1/decommission/undo`` ``{"code"}``: the same partner, within ``undo_window_h``,
  never after ``destroyed``.
"""

from __future__ import annotations

import json
from datetime import date
from typing import Any

from aiohttp import web

from linectl.resolver.config import PartnerSection
from linectl.resolver.page import PageRenderer
from linectl.resolver.resolve import invalid_link, parse_request
from linectl.resolver.services import SERVICES, Services, problem
from linectl.resolver.store import DecommissionError
from standards.gs1.dates import parse_yymmdd
from standards.gs1.digital_link import DigitalLinkParts, parse_digital_link
from standards.gs1.errors import Gs1Error

PAGES = web.AppKey("pages", PageRenderer)


async def verify_page(request: web.Request) -> web.StreamResponse:
    services = request.app[SERVICES]
    try:
        parts = parse_request(services, request, "/verify")
    except Gs1Error as exc:
        return invalid_link(exc)
    if parts.key_ai != "01":
        return problem(404, "not-found", "Not resolved here", "verification needs /01/{gtin}")
    language = services.language(request)
    outcome = await services.scan(
        parts.key, parts.qualifier("21"), parts.qualifier("10"),
        country=services.country(request), language=language, source="page",
        expiry=printed_expiry(parts),
    )  # fmt: skip
    if outcome is None:
        return problem(404, "not-found", "Unknown GTIN", f"GTIN {parts.key} has no product data")
    product, result, _ = outcome
    html = request.app[PAGES].render(
        language, result, product, services.config.resolver.default_language
    )
    return web.Response(
        text=html,
        content_type="text/html",
        headers={"Cache-Control": "no-store", "Content-Language": language},
    )


def printed_expiry(parts: DigitalLinkParts) -> date | None:
    """The expiry (AI 17) the code carries as a data attribute, if any (day 00: month end)."""
    value = parts.attribute("17")
    return parse_yymmdd(value, allow_day_zero=True) if value is not None else None


def _code(services: Services, code: str) -> DigitalLinkParts:
    parts = parse_digital_link(code)
    if parts.key_ai != "01" or parts.qualifier("21") is None:
        raise Gs1Error(f"Digital Link {code!r}: needs /01/{{gtin}}/21/{{serial}}")
    return parts


async def verify_api(request: web.Request) -> web.StreamResponse:
    services = request.app[SERVICES]
    code = request.query.get("code", "")
    if not code:
        return problem(400, "bad-request", "No code", "pass ?code=<GS1 Digital Link URI>")
    try:
        parts = _code(services, code)
    except Gs1Error as exc:
        return invalid_link(exc)
    language = services.language(request)
    outcome = await services.scan(
        parts.key, parts.qualifier("21"), parts.qualifier("10"),
        country=services.country(request), language=language, source="api",
        expiry=printed_expiry(parts),
    )  # fmt: skip
    if outcome is None:
        return problem(404, "not-found", "Unknown GTIN", f"GTIN {parts.key} has no product data")
    product, result, alerts = outcome
    body = result.to_json() | {
        "product": product.name(language, services.config.resolver.default_language),
        "first_scan_at": services.iso(result.first_scan_ms) if result.first_scan_ms else None,
        "alerts": [a.kind for a in alerts],
    }
    return web.json_response(body, headers={"Cache-Control": "no-store"})


def _partner(services: Services, request: web.Request) -> PartnerSection | None:
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not token:
        return None
    return services.config.partner_for(token)


async def _json_body(request: web.Request) -> dict[str, Any] | web.Response:
    try:
        body = json.loads(await request.read())
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        return problem(400, "bad-request", "Not JSON", str(exc))
    except RecursionError:
        return problem(400, "bad-request", "Not JSON", "nested too deeply")
    if not isinstance(body, dict) or not isinstance(body.get("code"), str):
        return problem(400, "bad-request", "No code", 'send {"code": "<Digital Link>", ...}')
    return body


def _unauthorised() -> web.Response:
    return problem(
        401,
        "unauthorised",
        "Partner token required",
        "send Authorization: Bearer <partner token>",
        headers={"WWW-Authenticate": 'Bearer realm="linectl-resolver partners"'},
    )


async def decommission(request: web.Request) -> web.StreamResponse:
    services = request.app[SERVICES]
    partner = _partner(services, request)
    if partner is None:
        return _unauthorised()
    body = await _json_body(request)
    if isinstance(body, web.Response):
        return body
    reason = body.get("reason")
    if reason not in ("dispensed", "exported", "destroyed"):
        return problem(400, "bad-request", "Bad reason", "reason: dispensed, exported or destroyed")
    if reason not in partner.may:
        return problem(
            403,
            "forbidden",
            "Not allowed",
            f"partner {partner.name} may not decommission as {reason}",
        )
    try:
        parts = _code(services, str(body["code"]))
    except Gs1Error as exc:
        return invalid_link(exc)
    serial = parts.qualifier("21")
    assert serial is not None
    try:
        record = await services.store.decommission(
            parts.key, serial, partner.name, reason, services.now_ms()
        )
    except DecommissionError as exc:
        return problem(409, "conflict", "Cannot decommission", str(exc))
    return web.json_response(
        {
            "gtin": record.gtin,
            "serial": record.serial,
            "status": record.status,
            "reason": record.status_detail,
            "by": record.decommissioned_by,
        }
    )


async def undo_decommission(request: web.Request) -> web.StreamResponse:
    services = request.app[SERVICES]
    partner = _partner(services, request)
    if partner is None:
        return _unauthorised()
    body = await _json_body(request)
    if isinstance(body, web.Response):
        return body
    try:
        parts = _code(services, str(body["code"]))
    except Gs1Error as exc:
        return invalid_link(exc)
    serial = parts.qualifier("21")
    assert serial is not None
    window_ms = int(services.config.resolver.undo_window_h * 3_600_000)
    try:
        record = await services.store.undo_decommission(
            parts.key, serial, partner.name, services.now_ms(), window_ms
        )
    except DecommissionError as exc:
        return problem(409, "conflict", "Cannot undo", str(exc))
    return web.json_response(
        {"gtin": record.gtin, "serial": record.serial, "status": record.status}
    )
