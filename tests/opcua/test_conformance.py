"""The server's PackML object against the PackML NodeSet file (OPC 30050), read independently.

The line object is built exactly as ``linectl opcua`` builds it (NodeSet imported, object
instantiated, optional children added); each expectation comes from the XML: type definitions,
browse names, data types, value ranks and the references of every mandatory child of the base
object, its Status, Admin and the three state machines, of every optional child linectl serves,
and the StateNumber of every state.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import pytest_asyncio
from asyncua import ua
from asyncua.common.node import Node
from asyncua.server.server import Server

from linectl.opcua.address_space import LineNodes, build_line_object
from linectl.opcua.mirror import packml_name
from linectl.opcua.nodeset import PACKML_URI
from standards.packml import PackMLState
from tests.opcua.nodeset_xml import PackMLNodeSet, XmlNode

NODESET = Path("opcua/PackML/Opc.Ua.PackML.NodeSet2.xml")
ADMIN_SERVED = ("ProdProcessedCount", "ProdDefectiveCount", "StopReason", "Warning", "Alarm",
                "StateCurrentTime", "StateCumulativeTime", "MachDesignSpeed")  # fmt: skip
STATUS_SERVED = ("StateRequested", "StateChangeInProcess", "UnitModeCurrent", "MachSpeed",
                 "CurMachSpeed", "EquipmentBlocked", "EquipmentStarved",
                 "UnitSupportedModes")  # fmt: skip


# The tests only read the NodeSet and browse the built object: both are made once per module.
pytestmark = pytest.mark.asyncio(loop_scope="module")


@pytest.fixture(scope="module")
def xml(standards: Path) -> PackMLNodeSet:
    return PackMLNodeSet(standards / NODESET)


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def built(standards: Path) -> AsyncIterator[tuple[Server, LineNodes]]:
    server = Server()
    await server.init()
    await server.import_xml(str(standards / NODESET))
    await server.load_data_type_definitions()
    nodes = await build_line_object(server, "line-7", "Line 7")
    yield server, nodes
    server.iserver.method_service.stop()


def server_id(text: str, packml: int) -> ua.NodeId:
    """An XML NodeId (``ns=1;i=6`` or ``i=63``) in the server's namespace numbering."""
    ns, _, ident = text.rpartition(";")
    index = packml if ns == "ns=1" else 0
    return ua.NodeId(ua.Int32(int(ident.removeprefix("i="))), ua.Int16(index))


async def children(node: Node) -> dict[str, tuple[Node, ua.NodeId]]:
    """Browse name -> (child, the reference type from ``node``), every forward hierarchy."""
    out = {}
    for ref in await node.get_references(refs=ua.ObjectIds.HierarchicalReferences):
        if ref.IsForward:
            out[ref.BrowseName.Name] = (Node(node.session, ref.NodeId), ref.ReferenceTypeId)
    return out


async def check_child(
    xml: PackMLNodeSet, packml: int, parent: Node, decl: XmlNode, problems: list[str]
) -> Node | None:
    where = f"{(await parent.read_browse_name()).Name}/{decl.name}"
    found = (await children(parent)).get(decl.name)
    if found is None:
        problems.append(f"{where}: missing")
        return None
    node, reference = found
    name = await node.read_browse_name()
    index = packml if decl.packml_name else 0  # PackML's browse names, or base UA's
    if name.NamespaceIndex != index:
        problems.append(f"{where}: browse name in namespace {name.NamespaceIndex}, not {index}")
    if (await node.read_node_class()).name != decl.node_class:
        problems.append(f"{where}: node class {(await node.read_node_class()).name}")
    if decl.reference is not None:
        want = server_id(xml.aliases.get(decl.reference, decl.reference), packml)
        if reference != want:
            problems.append(f"{where}: referenced by {reference}, the NodeSet says {want}")
    if decl.type_definition is not None:
        have = await node.read_type_definition()
        if have != server_id(decl.type_definition, packml):
            problems.append(f"{where}: type {have}, the NodeSet says {decl.type_definition}")
    if decl.node_class == "Variable":
        if decl.data_type and await node.read_data_type() != server_id(decl.data_type, packml):
            problems.append(f"{where}: data type {await node.read_data_type()}")
        if await node.read_value_rank() != decl.value_rank:
            problems.append(f"{where}: value rank {await node.read_value_rank()}")
    return node


async def check_mandatory(
    xml: PackMLNodeSet, packml: int, node: Node, decls: dict[str, XmlNode], problems: list[str]
) -> int:
    """Every mandatory child in ``decls`` (recursively through PackML types); how many."""
    checked = 0
    for decl in decls.values():
        if decl.rule != "Mandatory":
            continue
        child = await check_child(xml, packml, node, decl, problems)
        checked += 1
        if child is None:
            continue
        below = xml.children(decl.node_id)
        if decl.type_definition and decl.type_definition.startswith("ns=1;"):
            below = xml.declared(decl.type_definition) | below
        checked += await check_mandatory(xml, packml, child, below, problems)
    return checked


async def test_the_line_object_is_a_packml_base_object_organized_by_packml_objects(
    built: tuple[Server, LineNodes], xml: PackMLNodeSet
) -> None:
    server, nodes = built
    packml = nodes.packml_ns
    assert (await server.get_namespace_array())[packml] == PACKML_URI
    base_type = xml.by_name("PackMLBaseObjectType", "ObjectType")
    assert await nodes.line.read_type_definition() == server_id(base_type.node_id, packml)
    folder = xml.by_name("PackMLObjects", "Object")
    parents = await nodes.line.get_referenced_nodes(
        refs=ua.ObjectIds.Organizes, direction=ua.BrowseDirection.Inverse
    )
    assert [p.nodeid for p in parents] == [server_id(folder.node_id, packml)]
    assert (await nodes.line.read_display_name()).Text == "Line 7"


async def test_every_mandatory_child_is_there_as_the_nodeset_declares_it(
    built: tuple[Server, LineNodes], xml: PackMLNodeSet
) -> None:
    _, nodes = built
    base_type = xml.by_name("PackMLBaseObjectType", "ObjectType")
    problems: list[str] = []
    checked = await check_mandatory(
        xml, nodes.packml_ns, nodes.line, xml.declared(base_type.node_id), problems
    )
    assert not problems, "\n".join(problems)
    # Admin, Status, BaseStateMachine (with MachineState, ExecuteState) and their children
    assert checked >= 25, checked


async def test_the_optional_children_linectl_serves_are_the_nodesets(
    built: tuple[Server, LineNodes], xml: PackMLNodeSet
) -> None:
    _, nodes = built
    packml = nodes.packml_ns
    problems: list[str] = []
    groups = {
        "Admin": ("PackMLAdminObjectType", nodes.admin),
        "Status": ("PackMLStatusObjectType", nodes.status),
    }
    for part, (type_name, served) in groups.items():
        decls = xml.declared(xml.by_name(type_name, "ObjectType").node_id)
        parent = await nodes.line.get_child([f"{packml}:{part}"])
        for name in served:
            assert name in decls, f"{part}/{name} is not in the NodeSet"
            await check_child(xml, packml, parent, decls[name], problems)
    machines = {
        "base": "PackMLBaseStateMachineType",
        "machine": "PackMLMachineStateMachineType",
        "execute": "PackMLExecuteStateMachineType",
    }
    for key, method in nodes.methods.items():
        level, name = key.split(".")
        if level in ("line", "serialization"):  # the NodeSet's own, or linectl's
            continue
        decls = xml.declared(xml.by_name(machines[level], "ObjectType").node_id)
        assert decls[name].node_class == "Method", key
        await check_child(xml, packml, nodes.levels[level].machine, decls[name], problems)
        assert (await method.read_browse_name()).Name == name
    assert not problems, "\n".join(problems)
    assert set(ADMIN_SERVED) <= set(nodes.admin)
    assert set(STATUS_SERVED) <= set(nodes.status)


async def test_state_numbers_are_the_nodesets_and_linectls_tr88_numbers(
    built: tuple[Server, LineNodes], xml: PackMLNodeSet
) -> None:
    _, nodes = built
    packml = nodes.packml_ns
    machines = {
        "base": "PackMLBaseStateMachineType",
        "machine": "PackMLMachineStateMachineType",
        "execute": "PackMLExecuteStateMachineType",
    }
    every: dict[str, int] = {}
    for level, type_name in machines.items():
        expected = xml.states(xml.by_name(type_name, "ObjectType").node_id)
        served = nodes.levels[level].states
        assert {k: (server_id(i, packml), n) for k, (i, n) in expected.items()} == served
        every |= {name: number for name, (_, number) in expected.items()}
    for state in PackMLState:
        if state is not PackMLState.UNDEFINED:
            assert every[packml_name(state)] == int(state), state
