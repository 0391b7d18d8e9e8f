"""The line's PackML object, built from the PackML NodeSet imported at start.

One object of ``PackMLBaseObjectType`` under ``PackMLObjects``; its mandatory children come from
instantiating the type, and the optional children linectl serves (counts, stop reason, warnings,
alarms, state times, the state commands ...) are instantiated from their declarations in the
NodeSet, so every browse name, data type and reference is the NodeSet's. A ``Serialization``
object in the linectl namespace carries batch, pool, upstream, reconciliation, case and pallet.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from asyncua import ua
from asyncua.common.instantiate_util import _instantiate_node, instantiate
from asyncua.common.node import Node
from asyncua.common.node_factory import make_node
from asyncua.common.ua_utils import get_node_supertypes
from asyncua.server.server import Server
from asyncua.ua.object_ids import ObjectIds
from asyncua.ua.status_codes import StatusCodes
from asyncua.ua.uaerrors import UaError

from linectl.opcua.nodeset import LINECTL_URI, PACKML_URI

ADMIN_OPTIONAL = (
    "ProdProcessedCount",
    "ProdDefectiveCount",
    "StopReason",
    "StopReasonExtent",
    "Warning",
    "WarningExtent",
    "Alarm",
    "AlarmExtent",
    "StateCurrentTime",
    "StateCumulativeTime",
    "AccTimeSinceReset",
    "MachDesignSpeed",
)
STATUS_OPTIONAL = ("StateRequested", "StateChangeInProcess")
#: State machine level -> (its type's browse name, the optional command methods it serves).
LEVELS = {
    "base": ("PackMLBaseStateMachineType", ("Abort", "Clear")),
    "machine": ("PackMLMachineStateMachineType", ("Stop", "Reset")),
    "execute": (
        "PackMLExecuteStateMachineType",
        ("Start", "Hold", "Unhold", "Suspend", "Unsuspend", "ToComplete", "Reset"),
    ),
}
#: The serialization data in the linectl namespace: browse name -> OPC UA built-in type.
#: CreateWorkOrder's input arguments: (name, type, description), in order.
WORK_ORDER_ARGUMENTS: tuple[tuple[str, ua.VariantType, str], ...] = (
    ("GTIN", ua.VariantType.String, "the product's GTIN, 14 digits"),
    ("Lot", ua.VariantType.String, "the lot (AI 10, GS1 CSET 82, 1-20 characters)"),
    ("Expiry", ua.VariantType.String, "the expiry date, YYMMDD"),
    ("Quantity", ua.VariantType.UInt32, "packs to make"),
    ("Market", ua.VariantType.String, "the target market (empty: the product's only one)"),
    ("Materials", ua.VariantType.String, "packaging material lots: name=lot;name=lot (or empty)"),
    ("Batch", ua.VariantType.String, "the batch id (empty: the service makes one)"),
    ("Start", ua.VariantType.Boolean, "start the batch at once"),
)


async def _unlinked(parent: ua.NodeId, *args: Any) -> ua.StatusCode:
    return ua.StatusCode(ua.UInt32(StatusCodes.BadNotImplemented))  # until Methods.link_all


SERIALIZATION_VARIABLES: dict[str, ua.VariantType] = {
    "Batch": ua.VariantType.String,
    "GTIN": ua.VariantType.String,
    "Lot": ua.VariantType.String,
    "Expiry": ua.VariantType.String,
    "Quantity": ua.VariantType.Int32,
    "PoolAvailable": ua.VariantType.Int32,
    "PoolLowWater": ua.VariantType.Int32,
    "UpstreamBacklog": ua.VariantType.Int32,
    "Commissioned": ua.VariantType.Int32,
    "Scrapped": ua.VariantType.Int32,
    "InFlight": ua.VariantType.Int32,
    "OpenCase": ua.VariantType.String,
    "OpenCaseUnits": ua.VariantType.Int32,
    "OpenPallet": ua.VariantType.String,
    "OpenPalletCases": ua.VariantType.Int32,
}


def std_id(identifier: int) -> ua.NodeId:
    """A node of the base OPC UA namespace."""
    return ua.NodeId(ua.Int32(identifier), ua.Int16(0))


def own_id(name: str, ns: int) -> ua.NodeId:
    """A string NodeId in namespace ``ns``."""
    return ua.NodeId(ua.String(name), ua.Int16(ns))


class AddressSpaceError(Exception):
    """The NodeSet lacks something the server needs (a different or broken file)."""


@dataclass
class StateLevel:
    """One of the three nested PackML state machines of the line object."""

    machine: Node
    current: Node
    current_id: Node
    current_number: Node
    available_states: Node
    available_transitions: Node
    states: dict[str, tuple[ua.NodeId, int]]  # state browse name -> (its NodeId, StateNumber)
    transitions: list[tuple[ua.NodeId, ua.NodeId]]  # (transition, its FromState)


@dataclass
class LineNodes:
    """Handles on the nodes the server writes and the methods it serves."""

    line: Node
    packml_ns: int
    linectl_ns: int
    levels: dict[str, StateLevel]
    unit_modes: ua.NodeId = field(default_factory=ua.NodeId)  # ProductionMaintenanceModeEnum
    status: dict[str, Node] = field(default_factory=dict)
    admin: dict[str, Node] = field(default_factory=dict)
    serialization: dict[str, Node] = field(default_factory=dict)
    methods: dict[str, Node] = field(default_factory=dict)  # "execute.Hold", "line.SetMachSpeed"


async def _declared(type_node: Node, name: str) -> ua.ReferenceDescription:
    """The child ``name`` declared by ``type_node`` or one of its supertypes."""
    for t in await get_node_supertypes(type_node, includeitself=True):
        for rdesc in await t.get_children_descriptions():
            if rdesc.BrowseName.Name == name:
                return rdesc
    raise AddressSpaceError(f"the NodeSet declares no {name} on {type_node.nodeid.to_string()}")


async def add_declared(parent: Node, type_node: Node, name: str) -> Node:
    """Instantiate the optional child ``name`` that ``type_node`` declares, under ``parent``."""
    rdesc = await _declared(type_node, name)
    nodeid = own_id(f"{parent.nodeid.Identifier!s}.{name}", parent.nodeid.NamespaceIndex)
    # asyncua's own instantiation of one declared child (what instantiate() does for each)
    ids = await _instantiate_node(
        parent.session,
        make_node(parent.session, rdesc.NodeId),
        parent.nodeid,
        rdesc,
        nodeid,
        rdesc.BrowseName,
        instantiate_optional=False,
    )
    child: Node = make_node(parent.session, ids[0])
    return child


async def _child(node: Node, *names: str) -> Node:
    try:
        child: Node = await node.get_child(list(names))
        return child
    except UaError:
        raise AddressSpaceError(f"{node.nodeid.to_string()} has no {'/'.join(names)}") from None


async def _type(server: Server, ns: int, name: str) -> Node:
    """A PackML type by browse name (object types live under BaseObjectType or a state machine)."""
    base = server.nodes.base_object_type
    for path in (
        [f"{ns}:{name}"],
        ["0:StateMachineType", "0:FiniteStateMachineType", f"{ns}:{name}"],
    ):
        try:
            found: Node = await base.get_child(path)
            return found
        except UaError:
            continue
    raise AddressSpaceError(f"the NodeSet defines no object type {name}")


async def _state_facts(
    type_node: Node,
) -> tuple[dict[str, tuple[ua.NodeId, int]], list[tuple[ua.NodeId, ua.NodeId]]]:
    """The states (with StateNumber) and transitions (with FromState) a state machine type
    and its supertypes declare."""
    states: dict[str, tuple[ua.NodeId, int]] = {}
    transitions: list[tuple[ua.NodeId, ua.NodeId]] = []
    state_types = {std_id(ObjectIds.StateType), std_id(ObjectIds.InitialStateType)}
    for t in await get_node_supertypes(type_node, includeitself=True):
        if t.nodeid.NamespaceIndex == 0:
            continue
        for rdesc in await t.get_children_descriptions(refs=ObjectIds.HasComponent):
            node = make_node(t.session, rdesc.NodeId)
            if rdesc.TypeDefinition in state_types:
                number = await (await node.get_child(["0:StateNumber"])).read_value()
                states[rdesc.BrowseName.Name] = (rdesc.NodeId, int(number))
            elif rdesc.TypeDefinition == std_id(ObjectIds.TransitionType):
                sources = await node.get_referenced_nodes(refs=ObjectIds.FromState)
                for source in sources:
                    transitions.append((rdesc.NodeId, source.nodeid))
    return states, transitions


async def _level(server: Server, ns: int, machine: Node, type_name: str) -> StateLevel:
    states, transitions = await _state_facts(await _type(server, ns, type_name))
    current = await _child(machine, "0:CurrentState")
    number_type = make_node(server.iserver.isession, std_id(ObjectIds.StateVariableType))
    number = await add_declared(current, number_type, "Number")
    return StateLevel(
        machine=machine,
        current=current,
        current_id=await _child(current, "0:Id"),
        current_number=number,
        available_states=await _child(machine, "0:AvailableStates"),
        available_transitions=await _child(machine, "0:AvailableTransitions"),
        states=states,
        transitions=transitions,
    )


async def build_line_object(server: Server, line_id: str, line_name: str) -> LineNodes:
    """The line's PackML object under PackMLObjects (the NodeSet is already imported)."""
    ns = await server.get_namespace_index(PACKML_URI)
    own = await server.register_namespace(LINECTL_URI)
    folder = await _child(server.nodes.objects, f"{ns}:PackMLObjects")
    base_type = await _type(server, ns, "PackMLBaseObjectType")
    [line, *_] = await instantiate(
        folder,
        base_type,
        nodeid=own_id(line_id, own),
        bname=ua.QualifiedName(line_id, own),
        dname=ua.LocalizedText(line_name or line_id),
        instantiate_optional=False,
    )
    base = await _child(line, f"{ns}:BaseStateMachine")
    machine = await _child(base, f"{ns}:MachineState")
    execute = await _child(machine, f"{ns}:ExecuteState")
    machines = {"base": base, "machine": machine, "execute": execute}
    levels = {key: await _level(server, ns, machines[key], LEVELS[key][0]) for key in LEVELS}
    nodes = LineNodes(line=line, packml_ns=ns, linectl_ns=own, levels=levels)
    enum = server.nodes.enum_data_type
    nodes.unit_modes = (await _child(enum, f"{ns}:ProductionMaintenanceModeEnum")).nodeid
    for key, (type_name, commands) in LEVELS.items():
        type_node = await _type(server, ns, type_name)
        for command in commands:
            nodes.methods[f"{key}.{command}"] = await add_declared(
                machines[key], type_node, command
            )
    status = await _child(line, f"{ns}:Status")
    admin = await _child(line, f"{ns}:Admin")
    status_type = await _type(server, ns, "PackMLStatusObjectType")
    admin_type = await _type(server, ns, "PackMLAdminObjectType")
    for name in STATUS_OPTIONAL:
        nodes.status[name] = await add_declared(status, status_type, name)
    for child in await status.get_children():
        nodes.status.setdefault((await child.read_browse_name()).Name, child)
    for name in ADMIN_OPTIONAL:
        nodes.admin[name] = await add_declared(admin, admin_type, name)
    for name in ("SetMachSpeed", "SetUnitMode", "SetProduct", "SetParameter"):
        nodes.methods[f"line.{name}"] = await _child(line, f"{ns}:{name}")
    serialization = await line.add_object(
        own_id(f"{line_id}.Serialization", own), ua.QualifiedName("Serialization", own)
    )
    for name, kind in SERIALIZATION_VARIABLES.items():
        empty = ua.Variant(None, kind) if kind is ua.VariantType.String else ua.Variant(0, kind)
        nodes.serialization[name] = await serialization.add_variable(
            own_id(f"{line_id}.Serialization.{name}", own),
            ua.QualifiedName(name, own),
            empty,
        )
    nodes.methods["serialization.CreateWorkOrder"] = await serialization.add_method(
        own_id(f"{line_id}.Serialization.CreateWorkOrder", own),
        ua.QualifiedName("CreateWorkOrder", own),
        _unlinked,
        [_argument(*arg) for arg in WORK_ORDER_ARGUMENTS],
        [_argument("Batch", ua.VariantType.String, "the batch id of the work order")],
    )
    batch = [_argument("Batch", ua.VariantType.String, "the batch id of the work order")]
    for name in ("StartWorkOrder", "CloseWorkOrder"):
        nodes.methods[f"serialization.{name}"] = await serialization.add_method(
            own_id(f"{line_id}.Serialization.{name}", own),
            ua.QualifiedName(name, own),
            _unlinked,
            batch,
            [],
        )
    return nodes


def _argument(name: str, kind: ua.VariantType, description: str) -> ua.Argument:
    return ua.Argument(
        Name=name,
        DataType=ua.NodeId(ua.Int32(kind.value), ua.Int16(0)),
        ValueRank=-1,
        Description=ua.LocalizedText(description),
    )
