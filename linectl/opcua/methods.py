"""The line object's methods, each one a control API command made as the calling user.

The state commands of the three state machines map to linectl's commands (``ToComplete`` is
``close-batch``: finish and reconcile the batch); the role's permission is checked here with the
one permission matrix (BadUserAccessDenied) and once more by the daemon with the user's own
session, which also attributes the command in the audit trail.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import quote

import structlog
from asyncua import ua
from asyncua.server.server import Server
from asyncua.ua.status_codes import StatusCodes

from linectl.identity import CONTROL_PERMISSIONS, Permission
from linectl.opcua.address_space import WORK_ORDER_ARGUMENTS, LineNodes
from linectl.opcua.link import DaemonLink, DaemonUnavailable
from linectl.opcua.mirror import PRODUCTION_MODE, Mirror
from linectl.opcua.security import CALLER, LineUser
from standards.packml import PackMLCommand, next_state

log = structlog.get_logger(__name__)

#: "level.Method" -> the control API command it makes.
COMMANDS = {
    "execute.Start": "start",
    "execute.Hold": "hold",
    "execute.Unhold": "unhold",
    "execute.Suspend": "suspend",
    "execute.Unsuspend": "unsuspend",
    "execute.Reset": "reset",
    "execute.ToComplete": "close-batch",
    "machine.Stop": "stop",
    "machine.Reset": "reset",
    "base.Abort": "abort",
    "base.Clear": "clear",
}
_PACKML = {c.name.lower(): c for c in PackMLCommand}

Callback = Callable[..., Awaitable[Any]]


def _status(code: int) -> ua.StatusCode:
    return ua.StatusCode(ua.UInt32(code))


#: the work-order API's field -> CreateWorkOrder's input argument
_ARGUMENT_OF = {
    "gtin": "GTIN",
    "lot": "Lot",
    "expiry": "Expiry",
    "quantity": "Quantity",
    "market": "Market",
    "target_market": "Market",
    "materials": "Materials",
    "batch": "Batch",
    "id": "Batch",
    "start": "Start",
}


def _materials(text: str) -> dict[str, str]:
    """``carton=C-77;leaflet=L-1`` -> {"carton": "C-77", "leaflet": "L-1"}; ValueError."""
    out: dict[str, str] = {}
    for item in filter(None, (part.strip() for part in text.split(";"))):
        name, sep, lot = item.partition("=")
        if not sep or not name.strip() or not lot.strip():
            raise ValueError(item)
        out[name.strip()] = lot.strip()
    return out


def _refused_argument(name: str) -> ua.CallMethodResult:
    """BadInvalidArgument, marking the input argument ``name`` (all of them if unknown)."""
    bad, good = _status(StatusCodes.BadInvalidArgument), _status(StatusCodes.Good)
    names = [arg for arg, _, _ in WORK_ORDER_ARGUMENTS]
    return ua.CallMethodResult(
        StatusCode=bad,
        InputArgumentResults=[bad if n == name or name not in names else good for n in names],
    )


def _caller(permission: Permission, what: str) -> LineUser | ua.StatusCode:
    """The calling user if their role has ``permission``, else BadUserAccessDenied."""
    user = CALLER.get()
    if not isinstance(user, LineUser) or not user.may(permission):
        name = getattr(user, "name", None) or "anonymous"
        role = getattr(user, "linectl_role", "") or "none"
        log.info("OPC UA call refused", user=name, role=role, method=what, needs=permission.value)
        return _status(StatusCodes.BadUserAccessDenied)
    return user


class Methods:
    """Serves the line object's methods through the control API."""

    def __init__(self, link: DaemonLink, mirror: Mirror) -> None:
        self.link = link
        self.mirror = mirror

    def command(self, method: str, command: str) -> Callback:
        async def call(parent: ua.NodeId, *args: Any) -> Any:
            user = _caller(CONTROL_PERMISSIONS[command], method)
            if isinstance(user, ua.StatusCode):
                return user
            body = {"command": command, "reason": f"OPC UA {method.split('.')[-1]}"}
            try:
                status, doc, _ = await self.link.call("POST", "/v1/commands", user.token, body)
            except DaemonUnavailable as exc:
                log.warning("OPC UA command not sent", method=method, why=str(exc))
                return _status(StatusCodes.BadCommunicationError)
            if status == 200:
                log.info("OPC UA command", user=user.name, command=command)
                packml = _PACKML.get(command)
                if packml is not None and self.mirror.state is not None:
                    target = next_state(self.mirror.state, packml)
                    if target is not None:
                        await self.mirror.request(target)
                return []
            why = doc.get("detail", f"HTTP {status}")
            log.info("OPC UA command refused", user=user.name, command=command, why=why)
            if status in (401, 403):
                return _status(StatusCodes.BadUserAccessDenied)
            if status == 409:
                return _status(StatusCodes.BadInvalidState)
            return _status(StatusCodes.BadInvalidArgument)

        return call

    async def set_mach_speed(self, parent: ua.NodeId, speed: Any) -> Any:
        """linectl does not change the line's speed (the PLC does): only the design speed."""
        user = _caller(Permission.LINE_RUN, "SetMachSpeed")
        if isinstance(user, ua.StatusCode):
            return user
        value = getattr(speed, "Value", speed)
        if abs(float(value) - self.mirror.design_speed) > 1e-6:
            return _status(StatusCodes.BadNotSupported)
        return []

    async def set_unit_mode(self, parent: ua.NodeId, mode: Any) -> Any:
        """linectl has one unit mode, Production."""
        user = _caller(Permission.LINE_RUN, "SetUnitMode")
        if isinstance(user, ua.StatusCode):
            return user
        value = getattr(mode, "Value", mode)
        return [] if int(value) == PRODUCTION_MODE else _status(StatusCodes.BadInvalidArgument)

    async def set_product(self, parent: ua.NodeId, *args: Any) -> Any:
        """Work orders over OPC UA come with the work-order service (not yet served here)."""
        user = _caller(Permission.BATCH_CREATE, "SetProduct")
        if isinstance(user, ua.StatusCode):
            return user
        return _status(StatusCodes.BadNotImplemented)

    async def create_work_order(self, parent: ua.NodeId, *args: Any) -> Any:
        """A work order from MES: ``POST /v1/work-orders`` as the calling user (checked there
        exactly as ``linectl batch create``); a refused field is BadInvalidArgument on its input
        argument (InputArgumentResults), the reason in the server's log."""
        user = _caller(Permission.BATCH_CREATE, "CreateWorkOrder")
        if isinstance(user, ua.StatusCode):
            return user
        values = [getattr(a, "Value", a) for a in args]
        if len(values) != len(WORK_ORDER_ARGUMENTS):
            return _status(StatusCodes.BadArgumentsMissing)
        given = dict(zip((name for name, _, _ in WORK_ORDER_ARGUMENTS), values, strict=True))
        try:
            materials = _materials(str(given["Materials"] or ""))
        except ValueError:
            return _refused_argument("Materials")
        body: dict[str, Any] = {
            "gtin": given["GTIN"] or "",
            "lot": given["Lot"] or "",
            "expiry": given["Expiry"] or "",
            "quantity": int(given["Quantity"] or 0),
            "materials": materials,
            "start": bool(given["Start"]),
            "reason": "OPC UA CreateWorkOrder",
        }
        for name, key in (("Market", "market"), ("Batch", "batch")):
            if given[name]:
                body[key] = given[name]
        try:
            status, doc, _ = await self.link.call("POST", "/v1/work-orders", user.token, body)
        except DaemonUnavailable as exc:
            log.warning("OPC UA work order not sent", why=str(exc))
            return _status(StatusCodes.BadCommunicationError)
        if status in (200, 201):
            batch = str(doc.get("batch") or doc.get("id") or "")
            log.info("OPC UA work order", user=user.name, batch=batch)
            return [ua.Variant(batch, ua.VariantType.String)]
        why = doc.get("detail", f"HTTP {status}")
        log.info("OPC UA work order refused", user=user.name, field=doc.get("field"), why=why)
        if status in (401, 403):
            return _status(StatusCodes.BadUserAccessDenied)
        if status == 409:
            return _status(StatusCodes.BadInvalidState)
        return _refused_argument(_ARGUMENT_OF.get(str(doc.get("field", "")), ""))

    def work_order_step(self, step: str) -> Callback:
        """``StartWorkOrder`` / ``CloseWorkOrder``: ``POST /v1/work-orders/{batch}/start|close``
        as the calling user (a person's close needs a signature: BadUserAccessDenied)."""
        method = f"{step.capitalize()}WorkOrder"
        needs = Permission.BATCH_START if step == "start" else Permission.BATCH_CLOSE

        async def call(parent: ua.NodeId, batch: Any) -> Any:
            user = _caller(needs, method)
            if isinstance(user, ua.StatusCode):
                return user
            name = str(getattr(batch, "Value", batch) or "")
            if not name:
                return _status(StatusCodes.BadInvalidArgument)
            body = {"reason": f"OPC UA {method}"}
            path = f"/v1/work-orders/{quote(name, safe='')}/{step}"
            try:
                status, doc, _ = await self.link.call("POST", path, user.token, body)
            except DaemonUnavailable as exc:
                log.warning("OPC UA work order step not sent", method=method, why=str(exc))
                return _status(StatusCodes.BadCommunicationError)
            if status == 200:
                log.info("OPC UA work order", user=user.name, batch=name, step=step)
                return []
            why = doc.get("detail", f"HTTP {status}")
            log.info("OPC UA work order step refused", user=user.name, method=method, why=why)
            if status in (401, 403):
                return _status(StatusCodes.BadUserAccessDenied)
            if status == 404:
                return _status(StatusCodes.BadNotFound)
            if status == 409:
                return _status(StatusCodes.BadInvalidState)
            return _status(StatusCodes.BadInvalidArgument)

        return call

    async def set_parameter(self, parent: ua.NodeId, *args: Any) -> Any:
        """linectl takes no machine parameters over OPC UA (they are in its configuration)."""
        user = _caller(Permission.LINE_RUN, "SetParameter")
        if isinstance(user, ua.StatusCode):
            return user
        return _status(StatusCodes.BadNotSupported)

    def link_all(self, server: Server, nodes: LineNodes) -> None:
        for method, command in COMMANDS.items():
            server.link_method(nodes.methods[method], self.command(method, command))
        server.link_method(nodes.methods["line.SetMachSpeed"], self.set_mach_speed)
        server.link_method(nodes.methods["line.SetUnitMode"], self.set_unit_mode)
        server.link_method(nodes.methods["line.SetProduct"], self.set_product)
        server.link_method(nodes.methods["line.SetParameter"], self.set_parameter)
        server.link_method(nodes.methods["serialization.CreateWorkOrder"], self.create_work_order)
        for step in ("start", "close"):
            server.link_method(
                nodes.methods[f"serialization.{step.capitalize()}WorkOrder"],
                self.work_order_step(step),
            )
