"""Work orders from MES/ERP: create, start and close a batch remotely, for any interface.

The HTTP API (``/v1/work-orders``) and the OPC UA server's work-order method both call
:class:`WorkOrderService`; it checks the caller's permissions through the one matrix, validates
the order exactly as ``linectl batch create`` does (the ledger's checks) and against the product
master data, and attributes every change to the authenticated caller (a machine account for an
MES). A work order's id is its batch id. Ledger calls run on a worker thread.
"""

from __future__ import annotations

import asyncio
import functools
import json
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import asdict, dataclass, field, replace
from typing import Any

from linectl.identity import Identity, IdentityError, Permission, Principal, Role
from linectl.ledger import (
    LedgerError,
    Product,
    ValidationError,
    WorkOrder,
    WorkOrderStatus,
)
from linectl.ledger.validation import check_gtin
from linectl.line.control import Command, CommandRefused, LineControl

AfterClose = Callable[[str, str], Awaitable[dict[str, Any]]]
"""Called with (batch, user) after a close: the daemon exports the audit chain head."""


class SignedCloseRequired(IdentityError):
    """A person closing a batch signs it; the work-order service closes for machine accounts."""

    reason = "signature-required"


class WorkOrderInvalid(ValidationError):
    """A work order the service cannot accept; ``field`` names the culprit as the interfaces
    do (``market``, not the ledger's ``target_market``); several culprits are comma-joined."""

    def __init__(self, text: str, *, field: str, value: object) -> None:
        self.field, self.value, self.index = field, value, None
        LedgerError.__init__(self, text)


def work_order_json(wo: WorkOrder) -> dict[str, Any]:
    """A work order as the control API shows it (``/v1/batches``, ``/v1/work-orders``)."""
    return {
        "batch": wo.batch,
        "gtin": wo.gtin,
        "lot": wo.lot,
        "expiry": wo.expiry,
        "quantity": wo.quantity,
        "market": wo.target_market,
        "materials": dict(wo.materials),
        "status": wo.status.value,
        "created_at": wo.created_at,
        "started_at": wo.started_at,
        "closed_at": wo.closed_at,
    }


@dataclass(frozen=True)
class WorkOrderRequest:
    """A new work order as an MES sends it. ``batch`` defaults to the lot; ``market`` to the
    product's market when the master data holds it for one market only."""

    gtin: str
    lot: str
    expiry: str
    quantity: int
    batch: str | None = None
    market: str | None = None
    materials: Mapping[str, str] = field(default_factory=dict)
    start: bool = False
    reason: str = ""


@dataclass(frozen=True)
class WorkOrderView:
    """A work order, its product and where the line stands with it (JSON-ready via as_json)."""

    order: WorkOrder
    product: Product | None
    active: bool
    line_state: str | None
    counters: dict[str, Any] | None
    reconciliation: dict[str, Any] | None = None
    start_refused: str | None = None

    def as_json(self) -> dict[str, Any]:
        doc: dict[str, Any] = {
            "id": self.order.batch,
            **work_order_json(self.order),
            "product": None if self.product is None else asdict(self.product),
            "line": {"active": self.active, "state": self.line_state, "counters": self.counters},
        }
        if self.reconciliation is not None:
            doc["reconciliation"] = self.reconciliation
        if self.start_refused is not None:
            doc["start_refused"] = self.start_refused
        return doc


def _active_batch(status: dict[str, Any]) -> str | None:
    batch = status.get("batch")
    if isinstance(batch, dict):
        batch = batch.get("batch")
    return str(batch) if batch else None


def _renamed(exc: ValidationError) -> WorkOrderInvalid:
    """The ledger's error with the interface's field names (target_market -> market)."""
    fields = ["market" if f == "target_market" else f for f in exc.field.split(",")]
    text = str(exc).replace("target_market", "market")
    return WorkOrderInvalid(text, field=",".join(fields), value=exc.value)


class WorkOrderService:
    """Work orders for MES/ERP (see the module docstring); one per daemon."""

    def __init__(
        self, identity: Identity, control: LineControl, after_close: AfterClose | None = None
    ) -> None:
        self.identity = identity
        self.ledger = identity.ledger
        self.control = control
        self.after_close = after_close
        self.fill_wait_s = 60.0  # how long a START waits for a fresh batch's first serials

    async def _require(self, principal: Principal, permission: Permission, what: str) -> None:
        if not principal.may(permission):  # audited refusal, raised as PermissionDenied
            await asyncio.to_thread(self.identity.require, principal, permission, what)

    async def create(self, principal: Principal, request: WorkOrderRequest) -> WorkOrderView:
        """Create the work order (and start it on the line if ``request.start``).

        Raises PermissionDenied, WorkOrderInvalid (naming the field: gtin, lot, market ...),
        WorkOrderExists; nothing is created when any of these is raised. A start the line
        refuses leaves the work order created and says why in ``start_refused``.
        """
        await self._require(principal, Permission.BATCH_CREATE, "create a work order")
        if request.start:
            await self._require(principal, Permission.BATCH_START, "start a work order")
            await self._require(principal, Permission.LINE_RUN, "start the line")
        market = request.market
        if market is None:
            market = await asyncio.to_thread(self._only_market, request.gtin)
        create = functools.partial(
            self.ledger.create_work_order,
            batch=request.batch or request.lot,
            gtin=request.gtin,
            lot=request.lot,
            expiry=request.expiry,
            quantity=request.quantity,
            target_market=market,
            materials=dict(request.materials),
            actor=principal.name,
            reason=request.reason or "work order from MES",
            require_product=True,
        )
        try:
            order = await asyncio.to_thread(create)
        except ValidationError as exc:
            raise _renamed(exc) from None
        refused = None
        if request.start:
            try:
                await self._start_line(principal.name, order.batch, request.reason)
            except CommandRefused as exc:
                refused = str(exc)
        view = await self.get(principal, order.batch)
        return view if refused is None else replace(view, start_refused=refused)

    async def submit(
        self,
        principal: Principal,
        *,
        gtin: str,
        lot: str,
        expiry: str,
        quantity: int,
        market: str | None = None,
        materials: Mapping[str, str] | None = None,
        batch: str | None = None,
        start: bool = True,
        reason: str = "",
    ) -> WorkOrderView:
        """:meth:`create` with plain arguments, for an OPC UA method (SetProduct or a linectl
        work-order method) whose input arguments map one to one; starts the order by default."""
        request = WorkOrderRequest(
            gtin=gtin,
            lot=lot,
            expiry=expiry,
            quantity=quantity,
            batch=batch or None,
            market=market or None,
            materials=dict(materials or {}),
            start=start,
            reason=reason,
        )
        return await self.create(principal, request)

    def _only_market(self, gtin: str) -> str:
        try:
            products = self.ledger.products.of_gtin(check_gtin(gtin))
        except ValidationError as exc:
            raise _renamed(exc) from None
        if len(products) == 1:
            return products[0].market
        if not products:
            raise WorkOrderInvalid(
                f"gtin {gtin!r}: is not a product of this line's master data "
                "(linectl products import)",
                field="gtin",
                value=gtin,
            )
        markets = ", ".join(p.market for p in products)
        raise WorkOrderInvalid(
            f"market: product {gtin} is made for {markets}: name the market",
            field="market",
            value="",
        )

    async def start(self, principal: Principal, batch: str, reason: str = "") -> WorkOrderView:
        """Start ``batch`` on the line (PackML Start with this batch); CommandRefused if not now."""
        await self._require(principal, Permission.BATCH_START, f"start work order {batch}")
        await self._require(principal, Permission.LINE_RUN, "start the line")
        await asyncio.to_thread(self.ledger.get_work_order, batch)  # UnknownWorkOrder
        await self._start_line(principal.name, batch, reason)
        return await self.get(principal, batch)

    async def _start_line(self, user: str, batch: str, reason: str) -> None:
        """START with ``batch``. A fresh work order's pool is empty until the line, now that the
        batch is active, has provisioned it from the pool manager: then START is tried once
        more as soon as serials arrived (within ``fill_wait_s``)."""
        try:
            await self.control.command(Command.START, user=user, reason=reason, batch=batch)
            return
        except CommandRefused:
            if not self._provisioning_fills(batch):
                raise
        await self._pool_filled(batch)
        await self.control.command(Command.START, user=user, reason=reason, batch=batch)

    def _provisioning_fills(self, batch: str) -> bool:
        status = self.control.status()
        upstream = status.get("upstream") or {}
        pool = status.get("pool") or {}
        return (
            _active_batch(status) == batch
            and isinstance(upstream, dict)
            and upstream.get("provisioning") is not None
            and not pool.get("available")
        )

    async def _pool_filled(self, batch: str) -> None:
        """Wait (on the line's events, bounded) until the active batch's pool holds serials."""
        events = self.control.subscribe(64)
        try:
            async with asyncio.timeout(self.fill_wait_s):
                while not (self.control.status().get("pool") or {}).get("available"):
                    await events.get()
        except TimeoutError:
            raise CommandRefused(
                f"batch {batch}: no serials arrived from the pool manager within "
                f"{self.fill_wait_s:.0f} s; see the line's upstream status"
            ) from None
        finally:
            events.close()

    async def close(self, principal: Principal, batch: str, reason: str = "") -> WorkOrderView:
        """Close ``batch``: on the line (stop, resolve in-flight packs, reconcile) when it is the
        active one, else in the ledger. Machine accounts only: a person signs a close."""
        await self._require(principal, Permission.BATCH_CLOSE, f"close work order {batch}")
        if principal.role != Role.MACHINE:
            raise SignedCloseRequired(
                f"{principal.name} closes batch {batch} with an electronic signature: use "
                "'linectl close-batch' or POST /v1/commands with a signature"
            )
        order = await asyncio.to_thread(self.ledger.get_work_order, batch)
        if _active_batch(self.control.status()) == batch:
            await self.control.command(
                Command.CLOSE_BATCH, user=principal.name, reason=reason, batch=batch
            )
        elif order.status is WorkOrderStatus.CLOSED:
            raise CommandRefused(f"work order {batch} is closed already")
        else:
            await asyncio.to_thread(
                functools.partial(
                    self.ledger.close_work_order,
                    batch,
                    actor=principal.name,
                    reason=reason or "closed by MES",
                )
            )
        if self.after_close is not None:
            await self.after_close(batch, principal.name)
        return await self.get(principal, batch)

    async def get(self, principal: Principal, batch: str) -> WorkOrderView:
        """The work order ``batch`` (UnknownWorkOrder if none), its product and the line's view."""
        await self._require(principal, Permission.VIEW, f"see work order {batch}")
        order, product, rec = await asyncio.to_thread(self._read, batch)
        status = self.control.status()
        active = _active_batch(status) == batch
        state = status.get("state")
        return WorkOrderView(
            order=order,
            product=product,
            active=active,
            line_state=state.get("name") if isinstance(state, dict) and active else None,
            counters=dict(status.get("counters") or {}) if active else None,
            reconciliation=rec,
        )

    def _read(self, batch: str) -> tuple[WorkOrder, Product | None, dict[str, Any] | None]:
        order = self.ledger.get_work_order(batch)
        products = self.ledger.products.of_gtin(order.gtin)
        product = next((p for p in products if p.market == order.target_market), None)
        rec = None
        if order.status is WorkOrderStatus.CLOSED:
            rec = json.loads(self.ledger.reconcile(batch).to_json())
        return order, product, rec
