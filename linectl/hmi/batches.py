"""The batch screen: the running batch, the work orders with their materials, and creating a
work order from a product pick list (``POST /v1/batches`` of the control API, as the user).

Who may create one is the matrix's ``batch.create`` (supervisor); the screen offers the form
only to them and the server refuses it to anyone else, before the daemon refuses it again.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from linectl.hmi.actions import Refused, ask_daemon, back_with, field, not_allowed
from linectl.hmi.messages import Msg
from linectl.hmi.pages import VIEW, render, script_json
from linectl.hmi.screens import fetch
from linectl.hmi.security import session_of
from linectl.identity import Permission

MATERIAL_ROWS = 4
MAX_MATERIAL = 64


async def _list(
    request: web.Request, path: str, key: str
) -> tuple[list[dict[str, Any]], Msg | None]:
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
        field(form, "gtin", 14, Msg("GTIN")),
        field(form, "market", 64, Msg("Market")),
    )


def _materials(form: Any) -> dict[str, str]:
    names = form.getall("material_name", [])
    lots = form.getall("material_lot", [])
    if len(names) > 20 or len(lots) != len(names):
        raise Refused(Msg("The materials are not pairs of a name and a lot."))
    out: dict[str, str] = {}
    for raw_name, raw_lot in zip(names, lots, strict=True):
        name, lot = str(raw_name).strip(), str(raw_lot).strip()
        if len(name) > MAX_MATERIAL or len(lot) > MAX_MATERIAL:
            raise Refused(
                Msg(
                    "A material name or lot is too long: at most %(limit)s characters.",
                    limit=MAX_MATERIAL,
                )
            )
        if name and not lot:
            raise Refused(Msg("Material %(name)s: give its lot.", name=name))
        if lot and not name:
            raise Refused(Msg("Lot %(lot)s: name its material.", lot=lot))
        if name:
            out[name] = lot
    return out


async def create(request: web.Request) -> web.StreamResponse:
    """Create a work order (``batch.create``), attributed by the daemon to the user."""
    form = await request.post()
    session = session_of(request)
    if not session.may(Permission.BATCH_CREATE):
        raise not_allowed(request, "create")
    try:
        gtin, market = _product(form)
        body: dict[str, Any] = {
            "batch": field(form, "batch", 64, Msg("Batch")),
            "gtin": gtin,
            "market": market,
            "lot": field(form, "lot", 20, Msg("Lot")),
            "expiry": field(form, "expiry", 6, Msg("Expiry (YYMMDD)")),
            "materials": _materials(form),
            "reason": field(form, "reason", 1000, Msg("Reason"), required=False),
        }
        quantity = field(form, "quantity", 9, Msg("Quantity"))
        if not quantity.isdigit():
            raise Refused(
                Msg("The quantity is a whole number of packs, not %(given)s.", given=quantity)
            )
        body["quantity"] = int(quantity)
    except Refused as exc:
        raise back_with(request, "/batch", exc.message, error=True) from None
    refused, doc = await ask_daemon(request, "POST", "/v1/batches", body)
    raise back_with(request, "/batch", refused or _created(doc), error=bool(refused))


def _created(doc: dict[str, Any]) -> Msg:
    """The message for a work order the daemon created."""
    values: dict[str, str | int] = {
        "batch": str(doc.get("batch")),
        "gtin": str(doc.get("gtin")),
        "lot": str(doc.get("lot")),
        "quantity": int(doc.get("quantity") or 0),
    }
    materials = ", ".join(f"{k} {v}" for k, v in (doc.get("materials") or {}).items())
    if materials:
        return Msg(
            "Work order %(batch)s created: GTIN %(gtin)s, lot %(lot)s, %(quantity)s packs; "
            "materials %(materials)s.",
            materials=materials,
            **values,
        )
    return Msg(
        "Work order %(batch)s created: GTIN %(gtin)s, lot %(lot)s, %(quantity)s packs.",
        **values,
    )


def add_batch_routes(app: web.Application) -> None:
    app.router.add_get("/batch", batch)
    app.router.add_post("/batch/create", create)
