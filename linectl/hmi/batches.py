"""The batch screen: the running batch, the work orders with their materials, and creating a
work order from a product pick list (``POST /v1/batches`` of the control API, as the user).

Who may create one is the matrix's ``batch.create`` (supervisor); the screen offers the form
only to them and the server refuses it to anyone else, before the daemon refuses it again.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from linectl.hmi.actions import Refused, ask_daemon, back_with, field
from linectl.hmi.pages import VIEW, render, script_json
from linectl.hmi.screens import fetch
from linectl.hmi.security import session_of
from linectl.identity import Permission

MATERIAL_ROWS = 4
MAX_MATERIAL = 64


async def _list(request: web.Request, path: str, key: str) -> tuple[list[dict[str, Any]], str]:
    doc, problem = await fetch(request, path)
    return [x for x in doc.get(key) or [] if isinstance(x, dict)], problem


async def batch(request: web.Request) -> web.Response:
    """The batch: its work order and counts; start, the signed close and release; the work
    orders with their materials; a new work order (supervisor)."""
    view = request.app[VIEW]
    orders, problem = await _list(request, "/v1/batches", "batches")
    products: list[dict[str, Any]] = []
    if session_of(request).may(Permission.BATCH_CREATE):
        products, problem = await _list(request, "/v1/products", "products")
    extra: dict[str, Any] = {"message": problem, "error": True} if problem else {}
    first = products[0]["materials"] if products else []
    names = [*first, *[""] * MATERIAL_ROWS][: max(MATERIAL_ROWS, len(first))]
    return render(request).page(
        request,
        "batch.html",
        view=view.summary(),
        batch=view.status.get("batch"),
        last_batch=view.last_batch,
        orders=orders[:20],
        products=products,
        material_names=names,
        products_json=script_json(products),
        **extra,
    )


def _product(form: Any) -> tuple[str, str]:
    """(GTIN, market): the product picked from the list, or the one typed in."""
    picked = str(form.get("product", ""))
    if picked:
        gtin, _, market = picked.partition("|")
        return gtin, market
    return (
        field(form, "gtin", 14, "the GTIN"),
        field(form, "market", 64, "the target market"),
    )


def _materials(form: Any) -> dict[str, str]:
    names = form.getall("material_name", [])
    lots = form.getall("material_lot", [])
    if len(names) > 20 or len(lots) != len(names):
        raise Refused("the materials are not name and lot pairs")
    out: dict[str, str] = {}
    for raw_name, raw_lot in zip(names, lots, strict=True):
        name, lot = str(raw_name).strip(), str(raw_lot).strip()
        if len(name) > MAX_MATERIAL or len(lot) > MAX_MATERIAL:
            raise Refused(f"a material name or lot is too long: at most {MAX_MATERIAL} characters")
        if name and not lot:
            raise Refused(f"material {name}: give its lot")
        if lot and not name:
            raise Refused(f"lot {lot}: name its material")
        if name:
            out[name] = lot
    return out


async def create(request: web.Request) -> web.StreamResponse:
    """Create a work order (``batch.create``), attributed by the daemon to the user."""
    form = await request.post()
    session = session_of(request)
    if not session.may(Permission.BATCH_CREATE):
        raise web.HTTPForbidden(text=f"{session.user} ({session.role}) may not create a batch")
    try:
        gtin, market = _product(form)
        body: dict[str, Any] = {
            "batch": field(form, "batch", 64, "the batch"),
            "gtin": gtin,
            "market": market,
            "lot": field(form, "lot", 20, "the lot"),
            "expiry": field(form, "expiry", 6, "the expiry (YYMMDD)"),
            "materials": _materials(form),
            "reason": field(form, "reason", 1000, "the reason", required=False),
        }
        quantity = field(form, "quantity", 9, "the quantity")
        if not quantity.isdigit():
            raise Refused(f"the quantity is a whole number of packs, not {quantity!r}")
        body["quantity"] = int(quantity)
    except Refused as exc:
        raise back_with(request, "/batch", str(exc), error=True) from None
    ok, message, doc = await ask_daemon(request, "POST", "/v1/batches", body)
    if ok:
        materials = ", ".join(f"{k} {v}" for k, v in (doc.get("materials") or {}).items())
        message = (
            f"work order {doc.get('batch')} created: GTIN {doc.get('gtin')}, lot "
            f"{doc.get('lot')}, {doc.get('quantity')} packs"
            + (f"; {materials}" if materials else "")
        )
    raise back_with(request, "/batch", message, error=not ok)


def add_batch_routes(app: web.Application) -> None:
    app.router.add_get("/batch", batch)
    app.router.add_post("/batch/create", create)
