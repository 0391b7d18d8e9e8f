"""Work orders through the control API: ``GET /v1/batches`` (with their materials),
``GET /v1/products`` (the products the ledger knows, for a pick list) and ``POST /v1/batches``
(create one, as ``linectl batch create`` does).

The ledger validates the fields (GTIN check digit, lot, expiry YYMMDD ...) and writes the audit
row, attributed to the authenticated user; its calls run on a worker thread, never on the loop.
"""

from __future__ import annotations

import asyncio
from typing import Any

from aiohttp import web

from linectl.identity import Identity, Permission
from linectl.ledger import LedgerError, ValidationError, WorkOrder, WorkOrderExists
from linectl.line.work_orders import work_order_json
from linectl.service.api_auth import IDENTITY, require
from linectl.service.problems import MAX_REASON, BadInput, dumps, json_object, problem

MAX_MATERIALS = 20
_TEXT_FIELDS = {"batch": 64, "gtin": 14, "lot": 20, "expiry": 6, "market": 64}
_FIELDS = frozenset({*_TEXT_FIELDS, "quantity", "materials", "reason"})


def products_of(orders: list[WorkOrder]) -> list[dict[str, Any]]:
    """One entry per (GTIN, market) the ledger has made, newest first, with the material names
    its newest work order used (so a new batch asks for the same materials)."""
    seen: dict[tuple[str, str], dict[str, Any]] = {}
    for wo in sorted(orders, key=lambda w: w.created_at, reverse=True):
        key = (wo.gtin, wo.target_market)
        if key not in seen:
            seen[key] = {
                "gtin": wo.gtin,
                "market": wo.target_market,
                "materials": sorted(wo.materials),
                "last_batch": wo.batch,
                "quantity": wo.quantity,
            }
    return list(seen.values())


async def _orders(identity: Identity) -> list[WorkOrder]:
    return await asyncio.to_thread(identity.ledger.list_work_orders)


async def _list(request: web.Request) -> web.Response:
    await require(request, Permission.VIEW, "list the work orders")
    orders = await _orders(request.app[IDENTITY])
    newest = sorted(orders, key=lambda w: w.created_at, reverse=True)
    return web.json_response({"batches": [work_order_json(w) for w in newest]}, dumps=dumps)


async def _products(request: web.Request) -> web.Response:
    await require(request, Permission.VIEW, "list the products")
    orders = await _orders(request.app[IDENTITY])
    return web.json_response({"products": products_of(orders)}, dumps=dumps)


def parse_work_order(body: dict[str, Any]) -> dict[str, Any]:
    """The fields of ``POST /v1/batches``, each checked for type and size (the ledger checks
    their meaning)."""
    for name in body:
        if name not in _FIELDS:
            raise BadInput(name, f"unknown field {name!r} (allowed: {', '.join(sorted(_FIELDS))})")
    out: dict[str, Any] = {}
    for name, limit in _TEXT_FIELDS.items():
        value = body.get(name)
        if not isinstance(value, str) or not value.strip():
            raise BadInput(name, f"field {name!r} is required: a string of 1-{limit} characters")
        if len(value) > limit:
            raise BadInput(name, f"field {name!r} is longer than {limit} characters")
        out[name] = value.strip()
    out["quantity"] = body_quantity(body)
    out["materials"] = body_materials(body)
    out["reason"] = body_reason(body)
    return out


def body_quantity(body: dict[str, Any]) -> int:
    """A work order's ``quantity``: a whole number (the ledger checks its range)."""
    quantity = body.get("quantity")
    if not isinstance(quantity, int) or isinstance(quantity, bool):
        raise BadInput("quantity", "field 'quantity' is required: a whole number of packs")
    return quantity


def body_materials(body: dict[str, Any]) -> dict[str, str]:
    """A work order's ``materials``: at most MAX_MATERIALS names, each with a lot."""
    materials = body.get("materials", {})
    if not isinstance(materials, dict) or len(materials) > MAX_MATERIALS:
        raise BadInput(
            "materials", f"field 'materials' must map at most {MAX_MATERIALS} names to lots"
        )
    for name, lot in materials.items():
        if not isinstance(lot, str) or not lot.strip() or len(name) > 64 or len(lot) > 64:
            raise BadInput("materials", f"material {name[:64]!r}: its lot must be 1-64 characters")
    return {str(k).strip(): v.strip() for k, v in materials.items()}


def body_reason(body: dict[str, Any]) -> str:
    """The optional ``reason`` of a request, at most MAX_REASON characters."""
    reason = body.get("reason", "")
    if not isinstance(reason, str) or len(reason) > MAX_REASON:
        raise BadInput("reason", f"field 'reason' must be a string of at most {MAX_REASON} chars")
    return reason


async def _create(request: web.Request) -> web.Response:
    body = await json_object(request)
    fields = parse_work_order(body)
    principal = await require(request, Permission.BATCH_CREATE, "create a work order")
    ledger = request.app[IDENTITY].ledger
    try:
        wo = await asyncio.to_thread(
            ledger.create_work_order,
            batch=fields["batch"],
            gtin=fields["gtin"],
            lot=fields["lot"],
            expiry=fields["expiry"],
            quantity=fields["quantity"],
            target_market=fields["market"],
            materials=fields["materials"],
            actor=principal.name,
            reason=fields["reason"],
        )
    except ValidationError as exc:
        field = {"target_market": "market"}.get(exc.field, exc.field)
        raise BadInput(field, str(exc)) from None
    except WorkOrderExists as exc:
        return problem(409, "Work order exists", str(exc), kind="work-order-exists")
    except LedgerError as exc:
        return problem(409, "Work order refused", str(exc), kind="work-order-refused")
    return web.json_response(work_order_json(wo), status=201, dumps=dumps)


def add_batch_routes(app: web.Application) -> None:
    """Serve the work orders of the ledger behind ``app[IDENTITY]``."""
    app.router.add_get("/v1/batches", _list, allow_head=False)
    app.router.add_post("/v1/batches", _create)
    app.router.add_get("/v1/products", _products, allow_head=False)
