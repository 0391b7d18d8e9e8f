"""The OPEN-SCS pool manager on OPC UA: the official nodeset loaded into an asyncua server, with
Python behind the methods of one ``OPENSCSPoolManagerObjectType`` instance.

Address space: ``Objects/OPENSCSObjects/PoolManager`` (OPC 30260 section 6.2 asks for the
OPENSCSObjects folder), instantiated from the nodeset's type, so its methods, argument lists and
properties are the nodeset's own. Two things the nodeset leaves to the server are filled in here:

- ``OPENSCSSNCollectionDataType`` has no DataTypeDefinition in the nodeset (it only inherits the
  fields of the abstract ``OPENSCSCollectionDataType``); the server writes the complete inherited
  definition (with its own Default Binary encoding) so clients can decode it like any structure.
- Property values: MaxSNRequestable / MaxSNReturnable from the configuration, MaxSNPushable 0
  (pushes are not accepted), SNFormat ["SERIALONLY", "EPCURI"], PoolSelectionCriteria the keys
  GTIN / LOT / MARKET with the values the collections accept ("*" for any).
- MaxSNRequestable bounds ``Count`` of one request call (a larger Count is refused with the method
  result BadInvalidArgument and BadOutOfRange for Count); the answer comes in pages of
  ``page_size`` serials, the rest by RequestToken.
- Arguments are checked as OPC UA Part 4 (Call, 5.11.2.4) says: too few BadArgumentsMissing, too
  many BadTooManyArguments, a wrong data type BadInvalidArgument with BadTypeMismatch for it.

Methods: SNRequestUnassigned / SNRequestUnallocated / SNRequestAllocated and SNReturnUnallocated /
SNReturnAllocated are implemented (see :mod:`simulators.central.serial_pool`); the pushes
SNtoUnallocated / SNtoAllocated / SNtoEncoded answer UnableToAcceptSerialNumberEvents7. The
event-manager and aggregation-manager types are not instantiated: events go over EPCIS REST.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from asyncua import ua
from asyncua.common.node import Node
from asyncua.common.structures104 import load_custom_struct
from asyncua.server.server import Server as UaServer
from asyncua.ua.attribute_ids import AttributeIds
from asyncua.ua.status_codes import StatusCodes

from simulators.central.faults import Faults
from simulators.central.serial_formats import SN_FORMATS
from simulators.central.serial_pool import PoolAnswer, SerialPool, TooManySerials
from simulators.opcua_security import EndpointSecurity
from standards.openscs import (
    COLLECTION_TYPE,
    KEY_VALUE_TYPE,
    OPENSCS_URI,
    POOL_MANAGER_TYPE,
    RETURN_ENUM,
    SN_COLLECTION_TYPE,
    STATE_ENUM,
    ReturnStatus,
)
from standards.openscs import SerialNumberState as SerialState

log = logging.getLogger("simulators.central.opcua")

SERVER_URI = "urn:linectl:simulators:central"
SN_COLLECTION_BINARY = 15191

_REQUESTS = {
    "SNRequestUnassigned": SerialState.Unassigned0,
    "SNRequestUnallocated": SerialState.Unallocated1,
    "SNRequestAllocated": SerialState.Allocated2,
}
_RETURNS = {
    "SNReturnUnallocated": SerialState.Unallocated1,
    "SNReturnAllocated": SerialState.Allocated2,
}
_PUSHES = ("SNtoUnallocated", "SNtoAllocated", "SNtoEncoded")


@dataclass(frozen=True)
class CallRecord:
    """One method call as the pool manager saw it (``Undefined0``: refused with a Bad code)."""

    method: str
    status: ReturnStatus
    count: int = 0
    token: str = ""
    serials: int = 0


class NodesetMismatch(RuntimeError):
    """The nodeset does not define what the simulator implements (wrong or edited file)."""


def _nid(identifier: int, ns: int) -> ua.NodeId:
    return ua.NodeId(ua.Int32(identifier), ua.Int16(ns))


def _bad(code: int) -> ua.CallMethodResult:
    """A refused call with no per-argument results (arguments missing or too many)."""
    result = ua.CallMethodResult()
    result.StatusCode = ua.StatusCode(ua.UInt32(code))
    return result


def _bad_arguments(wrong: dict[int, int], count: int) -> ua.CallMethodResult:
    """OPC UA Part 4, Call (5.11.2.4): the operation result is BadInvalidArgument and
    inputArgumentResults name each bad argument: BadTypeMismatch (wrong type) or BadOutOfRange."""
    result = _bad(StatusCodes.BadInvalidArgument)
    result.InputArgumentResults = [ua.StatusCode(ua.UInt32(wrong.get(i, 0))) for i in range(count)]
    return result


def _mismatches(checks: list[bool]) -> dict[int, int]:
    """BadTypeMismatch for each argument whose type check failed."""
    return {i: StatusCodes.BadTypeMismatch for i, ok in enumerate(checks) if not ok}


def _count_problem(args: tuple[Any, ...], expected: int) -> ua.CallMethodResult | None:
    """BadArgumentsMissing / BadTooManyArguments when ``args`` is not ``expected`` long."""
    if len(args) == expected:
        return None
    if len(args) < expected:
        return _bad(StatusCodes.BadArgumentsMissing)
    return _bad(StatusCodes.BadTooManyArguments)


def _text(variant: Any) -> str | None:
    """A String argument's value ('' for a null string), or None when it is not a String."""
    if not isinstance(variant, ua.Variant) or variant.VariantType != ua.VariantType.String:
        return None
    return variant.Value or ""


def _criteria(variant: Any) -> list[tuple[str, str]] | None:
    """PoolSelectionCriteria as (key, value) pairs, or None when it is not a KeyValue array."""
    if not isinstance(variant, ua.Variant):
        return None
    if variant.Value is None:
        return []
    if variant.VariantType != ua.VariantType.ExtensionObject:
        return None
    items = variant.Value if isinstance(variant.Value, list) else [variant.Value]
    pairs = []
    for item in items:
        if not hasattr(item, "Key") or not hasattr(item, "Value"):
            return None
        pairs.append((str(item.Key or ""), str(item.Value or "")))
    return pairs


class PoolManagerServer:
    """An asyncua server exposing one OPEN-SCS pool manager backed by a :class:`SerialPool`."""

    def __init__(
        self,
        pool: SerialPool,
        faults: Faults,
        nodeset: Path,
        host: str = "127.0.0.1",
        port: int = 0,
        security: EndpointSecurity | None = None,
    ) -> None:
        self.pool, self.faults, self.nodeset = pool, faults, nodeset
        self.host, self.port = host, port
        self.security = security
        self._server: UaServer | None = None
        self._running = False
        self.ns = 0
        self._sn_collection: type[Any] | None = None
        self.calls: list[CallRecord] = []  # every method call, for tests and the log

    @property
    def url(self) -> str:
        return f"opc.tcp://{self.host}:{self.port}/linectl/central"

    async def start(self) -> int:
        """Build the address space and listen; return the bound port."""
        if not self.nodeset.is_file():
            raise FileNotFoundError(f"OPEN-SCS nodeset not found at {self.nodeset} (--nodeset)")
        server = UaServer()
        await server.init()
        server.disable_clock()
        server.set_server_name("linectl central simulator (OPEN-SCS pool manager)")
        server.set_endpoint(self.url)
        if self.security is not None:  # Basic256Sha256, users, trusted clients
            await self.security.apply(server, SERVER_URI)
        else:
            server.set_security_policy([ua.SecurityPolicyType.NoSecurity])
        await server.import_xml(str(self.nodeset))
        self.ns = await server.get_namespace_index(OPENSCS_URI)
        own = await server.register_namespace(SERVER_URI)
        await self._check_enums(server)
        self._sn_collection = await self._complete_sn_collection(server)
        folder = await server.nodes.objects.add_folder(own, "OPENSCSObjects")
        manager = await folder.add_object(
            own, "PoolManager", objecttype=_nid(POOL_MANAGER_TYPE, self.ns)
        )
        await self._set_properties(server, manager)
        await self._link_methods(server, manager)
        self._server = server
        await server.start()
        self._running = True
        if server.bserver is not None:
            self.port = server.bserver.port
            server.set_endpoint(self.url)  # a restart after "down" binds the same port
        log.info("OPEN-SCS pool manager listening on %s", self.url)
        return self.port

    async def set_down(self, down: bool) -> None:
        """Stop listening (clients see the connection refused), or listen again."""
        server = self._server
        if server is None or down != self._running:
            return
        if down:
            await server.stop()
            self._running = False
        else:
            await server.start()
            self._running = True

    async def close(self) -> None:
        """Stop the server; safe twice."""
        server, self._server = self._server, None
        if server is not None and self._running:
            self._running = False
            await server.stop()

    # -- address space --------------------------------------------------------------------

    async def _check_enums(self, server: UaServer) -> None:
        for type_id, enum in ((RETURN_ENUM, ReturnStatus), (STATE_ENUM, SerialState)):
            definition = await server.get_node(_nid(type_id, self.ns)).read_data_type_definition()
            if not isinstance(definition, ua.EnumDefinition):
                raise NodesetMismatch(f"{self.nodeset}: ns={self.ns};i={type_id} is no enumeration")
            defined = {f.Name: f.Value for f in definition.Fields}
            for member in enum:
                if defined.get(member.name) != member.value:
                    raise NodesetMismatch(
                        f"{self.nodeset}: enumeration ns={self.ns};i={type_id} lacks "
                        f"{member.name}={member.value}"
                    )

    async def _complete_sn_collection(self, server: UaServer) -> type[Any]:
        """Give OPENSCSSNCollectionDataType its inherited fields and its own binary encoding."""
        node = server.get_node(_nid(SN_COLLECTION_TYPE, self.ns))
        base = await server.get_node(_nid(COLLECTION_TYPE, self.ns)).read_data_type_definition()
        if not isinstance(base, ua.StructureDefinition):
            raise NodesetMismatch(f"{self.nodeset}: OPENSCSCollectionDataType has no fields")
        definition = ua.StructureDefinition(
            DefaultEncodingId=_nid(SN_COLLECTION_BINARY, self.ns),
            BaseDataType=_nid(COLLECTION_TYPE, self.ns),
            StructureType=ua.StructureType.Structure,
            Fields=list(base.Fields),
        )
        await node.write_attribute(
            AttributeIds.DataTypeDefinition, ua.DataValue(ua.Variant(definition))
        )
        existing = ua.extension_objects_by_datatype.get(node.nodeid)
        if existing is not None:
            return existing
        # the importer bound the name to the abstract parent type (the nodeset gave no
        # definition); asyncua warns that the new class is reachable by NodeId only: expected
        uatypes_log = logging.getLogger("asyncua.ua.uatypes")
        level = uatypes_log.level
        uatypes_log.setLevel(logging.ERROR)
        try:
            return await load_custom_struct(node)  # type: ignore[no-any-return]
        finally:
            uatypes_log.setLevel(level)

    async def _set_properties(self, server: UaServer, manager: Node) -> None:
        ns = self.ns
        key_value = ua.extension_objects_by_datatype[_nid(KEY_VALUE_TYPE, ns)]
        gtins = sorted({c.gtin for c in self.pool.collections.values() if c.kind == "sgtin"})
        markets = sorted({m for c in self.pool.collections.values() for m in c.markets})
        criteria = [
            key_value(Key="GTIN", Value=",".join(gtins) or "*"),
            key_value(Key="LOT", Value="*"),
            key_value(Key="MARKET", Value=",".join(markets) or "*"),
        ]
        values: dict[str, ua.Variant] = {
            "MaxSNRequestable": ua.Variant(self.pool.max_sn_requestable, ua.VariantType.UInt32),
            "MaxSNReturnable": ua.Variant(self.pool.max_sn_returnable, ua.VariantType.UInt32),
            "MaxSNPushable": ua.Variant(0, ua.VariantType.UInt32),
            "SNFormat": ua.Variant(list(SN_FORMATS), ua.VariantType.String),
            "PoolSelectionCriteria": ua.Variant(criteria, ua.VariantType.ExtensionObject),
        }
        for name, value in values.items():
            prop = await manager.get_child(f"{ns}:{name}")
            await prop.write_value(value)

    async def _link_methods(self, server: UaServer, manager: Node) -> None:
        handlers: dict[str, Callable[..., Awaitable[Any]]] = {}
        for name, state in _REQUESTS.items():
            handlers[name] = self._request_handler(name, state)
        for name, state in _RETURNS.items():
            handlers[name] = self._return_handler(name, state)
        for name in _PUSHES:
            method = await manager.get_child(f"{self.ns}:{name}")
            declared = await method.get_child("0:InputArguments")
            handlers[name] = self._push_handler(name, len(await declared.read_value()))
        for name, handler in handlers.items():
            server.link_method(await manager.get_child(f"{self.ns}:{name}"), handler)

    # -- methods --------------------------------------------------------------------------

    def _collection(self, answer: PoolAnswer, collection_id: str, state: SerialState) -> Any:
        assert self._sn_collection is not None
        spec = answer.collection
        description = ""
        if spec is not None:
            parts = [spec.description or spec.kind.upper()]
            if spec.kind == "sgtin":
                parts.append(f"GTIN {spec.gtin}")
            if answer.lot:
                parts.append(f"lot {answer.lot}")
            if answer.market:
                parts.append(f"market {answer.market}")
            description = "; ".join(parts)
        return self._sn_collection(
            ID=spec.id if spec is not None else collection_id,
            Description=description,
            State=state.value,
            AssociatedPoolID=spec.namespace if spec is not None else "",
            SerialNumbers=list(answer.serials),
        )

    def _note(self, method: str, answer: PoolAnswer, count: int = 0, token: str = "") -> None:
        self.calls.append(CallRecord(method, answer.status, count, token, len(answer.serials)))
        log.debug("%s -> %s (%s)", method, answer.status.name, answer.detail)

    def _request_handler(self, method: str, state: SerialState) -> Callable[..., Awaitable[Any]]:
        async def handler(parent: ua.NodeId, *args: Any) -> Any:
            if (refused := _count_problem(args, 5)) is not None:
                return refused
            collection_id, fmt, token = _text(args[0]), _text(args[2]), _text(args[4])
            criteria = _criteria(args[3])
            count_ok = (
                isinstance(args[1], ua.Variant) and args[1].VariantType == ua.VariantType.UInt32
            )
            values = [collection_id, count_ok or None, fmt, criteria, token]
            if wrong := _mismatches([v is not None for v in values]):
                return _bad_arguments(wrong, 5)
            assert collection_id is not None and fmt is not None and token is not None
            assert criteria is not None
            if self.faults.deny_provisioning:
                answer = PoolAnswer(ReturnStatus.InsufficientPrivilegeToExecute11, detail="denied")
            else:
                count = int(args[1].Value)
                try:
                    answer = await asyncio.to_thread(
                        self.pool.request, state, collection_id, count, fmt, criteria, token
                    )
                except TooManySerials:
                    self.calls.append(CallRecord(method, ReturnStatus.Undefined0, count, token))
                    return _bad_arguments({1: StatusCodes.BadOutOfRange}, 5)
            self._note(method, answer, int(args[1].Value), token)
            return [
                ua.Variant(int(answer.status), ua.VariantType.Int32),
                ua.Variant(self._collection(answer, collection_id, state)),
                ua.Variant(answer.token, ua.VariantType.String),
            ]

        return handler

    def _return_handler(self, method: str, state: SerialState) -> Callable[..., Awaitable[Any]]:
        async def handler(parent: ua.NodeId, *args: Any) -> Any:
            if (refused := _count_problem(args, 3)) is not None:
                return refused
            collection: Any = args[0].Value if isinstance(args[0], ua.Variant) else None
            is_collection = collection is not None and all(
                hasattr(collection, f) for f in ("ID", "SerialNumbers")
            )
            criteria, fmt = _criteria(args[1]), _text(args[2])
            if wrong := _mismatches([is_collection, criteria is not None, fmt is not None]):
                return _bad_arguments(wrong, 3)
            assert criteria is not None and fmt is not None
            serials = [str(s) for s in (collection.SerialNumbers or [])]
            collection_id = str(collection.ID or "")
            if self.faults.deny_provisioning:
                answer = PoolAnswer(ReturnStatus.InsufficientPrivilegeToExecute11, detail="denied")
            elif int(getattr(collection, "State", state)) != state.value:
                answer = PoolAnswer(
                    ReturnStatus.InvalidSerialNumberCollection2,
                    detail=f"collection state {collection.State}, expected {state.name}",
                )
            else:
                try:
                    answer = await asyncio.to_thread(
                        self.pool.give_back, state, collection_id, serials, fmt, criteria
                    )
                except TooManySerials:
                    return _bad_arguments({0: StatusCodes.BadOutOfRange}, 3)
            self._note(method, answer, len(serials))
            return [ua.Variant(int(answer.status), ua.VariantType.Int32)]

        return handler

    def _push_handler(self, method: str, expected: int) -> Callable[..., Awaitable[Any]]:
        async def handler(parent: ua.NodeId, *args: Any) -> Any:
            if (refused := _count_problem(args, expected)) is not None:
                return refused
            answer = PoolAnswer(ReturnStatus.UnableToAcceptSerialNumberEvents7, detail="no pushes")
            self._note(method, answer)
            return [ua.Variant(int(answer.status), ua.VariantType.Int32)]

        return handler
