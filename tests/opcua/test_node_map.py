"""docs/opcua.md against the server: the node map lists every variable and method under the line
object with its kind and data type, and the methods table says which command and permission each
state method makes; the failure names every row that differs."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from asyncua import ua
from asyncua.common.node import Node
from asyncua.server.server import Server

from linectl.identity import CONTROL_PERMISSIONS
from linectl.opcua.address_space import LineNodes, build_line_object
from linectl.opcua.methods import COMMANDS
from tests.docs.markdown import DOCS, plain, tables_with_header

PAGE = DOCS / "opcua.md"
NODESET = Path("opcua/PackML/Opc.Ua.PackML.NodeSet2.xml")
RANKS = {1: "[]", 2: "[,]"}


@pytest.fixture
async def built(standards: Path) -> AsyncIterator[tuple[Server, LineNodes]]:
    server = Server()
    await server.init()
    await server.import_xml(str(standards / NODESET))
    await server.load_data_type_definitions()
    yield server, await build_line_object(server, "line-1", "Line 1")
    server.iserver.method_service.stop()


async def walk(server: Server, node: Node, path: str, out: dict[str, tuple[str, str]]) -> None:
    """Browse path -> (kind, data type) of every variable and method below ``node``."""
    for ref in await node.get_references(refs=ua.ObjectIds.HierarchicalReferences):
        if not ref.IsForward:
            continue
        child = server.get_node(ref.NodeId)
        where = f"{path}/{ref.BrowseName.Name}" if path else ref.BrowseName.Name
        if ref.NodeClass == ua.NodeClass.Method:
            out[where] = ("method", "")
            continue
        if ref.NodeClass == ua.NodeClass.Variable:
            data_type = await server.get_node(await child.read_data_type()).read_browse_name()
            rank = RANKS.get(await child.read_value_rank(), "")
            out[where] = ("variable", data_type.Name + rank)
        await walk(server, child, where, out)


def documented() -> dict[str, tuple[str, str]]:
    [table] = tables_with_header(PAGE, "node", "kind", "data type", "what it holds")
    rows: dict[str, tuple[str, str]] = {}
    for row in table.rows:
        node = plain(row.cells[0])
        assert node not in rows, f"{row.where(PAGE)}: {node} listed twice"
        rows[node] = (plain(row.cells[1]), plain(row.cells[2]))
    return rows


async def test_the_node_map_is_the_servers(built: tuple[Server, LineNodes]) -> None:
    server, nodes = built
    served: dict[str, tuple[str, str]] = {}
    await walk(server, nodes.line, "", served)
    page = documented()
    problems = [f"{path}: served as {what}, not in {PAGE.name}" for path, what in
                served.items() if path not in page]  # fmt: skip
    problems += [f"{path}: in {PAGE.name}, not served" for path in page if path not in served]
    problems += [
        f"{path}: {PAGE.name} says {page[path]}, the server {what}"
        for path, what in served.items()
        if path in page and page[path] != what
    ]
    assert not problems, "\n".join(problems)


def test_the_methods_table_is_what_each_method_does() -> None:
    [table] = tables_with_header(PAGE, "method", "control API command", "permission")
    page = {plain(r.cells[0]): (plain(r.cells[1]), plain(r.cells[2])) for r in table.rows}
    prefix = {
        "base": "BaseStateMachine",
        "machine": "BaseStateMachine/MachineState",
        "execute": "BaseStateMachine/MachineState/ExecuteState",
    }
    code = {}
    for method, command in COMMANDS.items():
        level, name = method.split(".")
        code[f"{prefix[level]}/{name}"] = (command, CONTROL_PERMISSIONS[command].value)
    assert page == code
