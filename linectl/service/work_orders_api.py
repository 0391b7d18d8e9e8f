"""Work orders from MES/ERP over the control API: ``POST /v1/work-orders`` (create, and start at
once with ``"start": true``), ``GET /v1/work-orders/{id}``, ``POST /v1/work-orders/{id}/start``
and ``POST /v1/work-orders/{id}/close``. A work order's id is its batch id.

The routes only check the shape of the body; :class:`~linectl.line.work_orders.WorkOrderService`
checks permissions, validates the order as ``linectl batch create`` does and against the product
master data, and records everything under the authenticated user (the MES's machine account).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

from linectl.identity import IdentityError
from linectl.ledger import LedgerError, UnknownWorkOrder, WorkOrderExists
from linectl.line.control import CommandRefused
from linectl.line.work_orders import WorkOrderInvalid, WorkOrderRequest, WorkOrderService
from linectl.service.api_auth import PRINCIPAL, Forbidden
from linectl.service.batches_api import body_materials, body_quantity, body_reason
from linectl.service.problems import BadInput, dumps, json_object, problem

SERVICE = web.AppKey("work_orders", WorkOrderService)
_REQUIRED = {"gtin": 14, "lot": 20, "expiry": 6}
_OPTIONAL = {"id": 64, "batch": 64, "market": 64}
_FIELDS = frozenset({*_REQUIRED, *_OPTIONAL, "quantity", "materials", "start", "reason"})

Route = Callable[[web.Request], Awaitable[web.Response]]


def _text(body: dict[str, Any], name: str, limit: int, required: bool) -> str | None:
    value = body.get(name)
    if value is None and not required:
        return None
    if not isinstance(value, str) or not value.strip():
        raise BadInput(name, f"field {name!r} is required: a string of 1-{limit} characters")
    if len(value) > limit:
        raise BadInput(name, f"field {name!r} is longer than {limit} characters")
    return value.strip()


def parse_request(body: dict[str, Any]) -> WorkOrderRequest:
    """The body of ``POST /v1/work-orders``, checked for shape (the service checks meaning)."""
    for name in body:
        if name not in _FIELDS:
            raise BadInput(name, f"unknown field {name!r} (allowed: {', '.join(sorted(_FIELDS))})")
    text = {n: _text(body, n, limit, True) for n, limit in _REQUIRED.items()}
    optional = {n: _text(body, n, limit, False) for n, limit in _OPTIONAL.items()}
    if optional["id"] and optional["batch"] and optional["id"] != optional["batch"]:
        raise BadInput("id", "fields 'id' and 'batch' differ: a work order's id is its batch")
    quantity, materials = body_quantity(body), body_materials(body)
    start = body.get("start", False)
    if not isinstance(start, bool):
        raise BadInput("start", "field 'start' must be true or false")
    return WorkOrderRequest(
        gtin=str(text["gtin"]),
        lot=str(text["lot"]),
        expiry=str(text["expiry"]),
        quantity=quantity,
        batch=optional["id"] or optional["batch"],
        market=optional["market"],
        materials=materials,
        start=start,
        reason=body_reason(body),
    )


def _answering(route: Route) -> Route:
    """Turn the service's refusals into problem documents (400 names the field)."""

    async def handle(request: web.Request) -> web.Response:
        try:
            return await route(request)
        except WorkOrderInvalid as exc:
            raise BadInput(exc.field, str(exc)) from None
        except IdentityError as exc:
            raise Forbidden(exc) from None
        except UnknownWorkOrder as exc:
            return problem(404, "No such work order", str(exc), kind="unknown-work-order")
        except WorkOrderExists as exc:
            return problem(409, "Work order exists", str(exc), kind="work-order-exists")
        except CommandRefused as exc:
            return problem(409, "Command refused", str(exc), kind="command-refused")
        except LedgerError as exc:
            return problem(409, "Work order refused", str(exc), kind="work-order-refused")

    return handle


async def _create(request: web.Request) -> web.Response:
    order = parse_request(await json_object(request))
    view = await request.app[SERVICE].create(request[PRINCIPAL], order)
    headers = {"Location": f"/v1/work-orders/{view.order.batch}"}
    return web.json_response(view.as_json(), status=201, dumps=dumps, headers=headers)


async def _get(request: web.Request) -> web.Response:
    view = await request.app[SERVICE].get(request[PRINCIPAL], request.match_info["id"])
    return web.json_response(view.as_json(), dumps=dumps)


async def _reason_only(request: web.Request) -> str:
    body = await json_object(request) if request.can_read_body else {}
    for name in body:
        if name != "reason":
            raise BadInput(name, f"unknown field {name!r} (allowed: reason)")
    return body_reason(body)


async def _start(request: web.Request) -> web.Response:
    reason = await _reason_only(request)
    service = request.app[SERVICE]
    view = await service.start(request[PRINCIPAL], request.match_info["id"], reason)
    return web.json_response(view.as_json(), dumps=dumps)


async def _close(request: web.Request) -> web.Response:
    reason = await _reason_only(request)
    service = request.app[SERVICE]
    view = await service.close(request[PRINCIPAL], request.match_info["id"], reason)
    return web.json_response(view.as_json(), dumps=dumps)


def add_work_order_routes(app: web.Application, service: WorkOrderService) -> None:
    """Serve ``/v1/work-orders`` through ``service``."""
    app[SERVICE] = service
    app.router.add_post("/v1/work-orders", _answering(_create))
    app.router.add_get("/v1/work-orders/{id}", _answering(_get), allow_head=False)
    app.router.add_post("/v1/work-orders/{id}/start", _answering(_start))
    app.router.add_post("/v1/work-orders/{id}/close", _answering(_close))
