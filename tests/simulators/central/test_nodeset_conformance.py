"""DW1: the running pool manager exposes exactly the nodeset's OPENSCSPoolManagerObjectType.

The expectation is read from the publisher's NodeSet2 XML with ElementTree (not through asyncua's
importer, which the simulator itself uses); the actual side is browsed from the running server
over OPC UA. Data types are compared as (namespace URI, numeric id), so namespace indexes may
differ between the file and the server.
"""

from __future__ import annotations

import asyncio
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import pytest
from asyncua import Client, ua

from simulators.central import CentralSimulator
from tests.simulators.central.harness import NODESET, central_config

UA = "http://opcfoundation.org/UA/2011/03/UANodeSet.xsd"
TYPES = "http://opcfoundation.org/UA/2008/02/Types.xsd"
CORE_URI = "http://opcfoundation.org/UA/"
OPENSCS_URI = "http://opcfoundation.org/UA/OPENSCS-SER/"
POOL_MANAGER_TYPE = "1:OPENSCSPoolManagerObjectType"

TypeRef = tuple[str, int]
Signature = dict[str, Any]


def _type_ref(text: str, aliases: dict[str, str], uris: list[str]) -> TypeRef:
    nodeid = aliases.get(text, text)
    ns, _, ident = nodeid.rpartition(";") if ";" in nodeid else ("ns=0", "", nodeid)
    index = int(ns.removeprefix("ns="))
    assert ident.startswith("i="), f"non-numeric DataType {nodeid}"
    return (uris[index], int(ident[2:]))


def nodeset_pool_manager(path: Path) -> Signature:
    """Methods (argument name, type, rank) and properties (type, rank) of the type in the XML."""
    root = ET.parse(path).getroot()
    uris = [CORE_URI] + [u.text or "" for u in root.iter(f"{{{UA}}}Uri")]
    aliases = {a.get("Alias", ""): a.text or "" for a in root.iter(f"{{{UA}}}Alias")}
    nodes = {n.get("NodeId"): n for n in root if n.get("NodeId")}
    type_node = next(n for n in nodes.values() if n.get("BrowseName") == POOL_MANAGER_TYPE)
    methods: dict[str, dict[str, list[tuple[str, TypeRef, int]]]] = {}
    properties: dict[str, tuple[TypeRef, int]] = {}
    for ref in type_node.iter(f"{{{UA}}}Reference"):
        if ref.get("IsForward") == "false" or ref.get("ReferenceType") == "HasSubtype":
            continue
        child = nodes[ref.text]
        name = child.get("BrowseName", "").split(":", 1)[-1]
        if child.tag == f"{{{UA}}}UAMethod":
            methods[name] = {}
            for arg_list in (n for n in nodes.values() if n.get("ParentNodeId") == ref.text):
                args = []
                for arg in arg_list.iter(f"{{{TYPES}}}Argument"):
                    arg_type = arg.findtext(f"{{{TYPES}}}DataType/{{{TYPES}}}Identifier") or ""
                    args.append(
                        (
                            arg.findtext(f"{{{TYPES}}}Name") or "",
                            _type_ref(arg_type, aliases, uris),
                            int(arg.findtext(f"{{{TYPES}}}ValueRank") or "-1"),
                        )
                    )
                methods[name][arg_list.get("BrowseName", "")] = args
        else:
            properties[name] = (
                _type_ref(child.get("DataType", ""), aliases, uris),
                int(child.get("ValueRank", "-1")),
            )
    return {"methods": methods, "properties": properties}


async def served_pool_manager(url: str) -> Signature:
    """The same description, browsed from the running server's pool-manager instance."""
    async with Client(url, timeout=10) as client:
        uris = await client.get_namespace_array()

        def ref(nodeid: ua.NodeId) -> TypeRef:
            return (uris[nodeid.NamespaceIndex], int(nodeid.Identifier))

        managers = []
        for folder in await client.nodes.objects.get_children():
            if (await folder.read_browse_name()).Name != "OPENSCSObjects":
                continue
            for obj in await folder.get_children(nodeclassmask=ua.NodeClass.Object):
                if ref(await obj.read_type_definition()) == (OPENSCS_URI, 15032):
                    managers.append(obj)
        assert len(managers) == 1, "expected one pool manager under Objects/OPENSCSObjects"
        methods: dict[str, dict[str, list[tuple[str, TypeRef, int]]]] = {}
        properties: dict[str, tuple[TypeRef, int]] = {}
        for child in await managers[0].get_children():
            name = (await child.read_browse_name()).Name
            if await child.read_node_class() == ua.NodeClass.Method:
                methods[name] = {}
                for arg_list in await child.get_properties():
                    args = await arg_list.read_value()
                    methods[name][(await arg_list.read_browse_name()).Name] = [
                        (a.Name, ref(a.DataType), a.ValueRank) for a in args
                    ]
            else:
                properties[name] = (
                    ref(await child.read_data_type()),
                    await child.read_value_rank(),
                )
    return {"methods": methods, "properties": properties}


@pytest.fixture
async def running(tmp_path: Path, standards: Path) -> Any:
    async with CentralSimulator(central_config(tmp_path, standards), admin=False) as sim:
        yield sim


async def test_served_pool_manager_matches_the_official_nodeset(
    running: CentralSimulator, standards: Path
) -> None:
    expected = nodeset_pool_manager(standards / NODESET)
    async with asyncio.timeout(30):
        actual = await served_pool_manager(running.opcua_url)
    assert set(expected["methods"]) == {
        "SNRequestUnassigned",
        "SNRequestUnallocated",
        "SNRequestAllocated",
        "SNReturnUnallocated",
        "SNReturnAllocated",
        "SNtoUnallocated",
        "SNtoAllocated",
        "SNtoEncoded",
    }
    assert actual["methods"] == expected["methods"]
    assert actual["properties"] == expected["properties"]


def test_nodeset_reader_sees_the_request_arguments_in_order(standards: Path) -> None:
    methods = nodeset_pool_manager(standards / NODESET)["methods"]
    names = [name for name, _, _ in methods["SNRequestAllocated"]["InputArguments"]]
    assert names == ["SNCollectionID", "Count", "SNFormat", "PoolSelectionCriteria", "RequestToken"]
    outputs = methods["SNRequestAllocated"]["OutputArguments"]
    assert outputs[1] == ("SNCollection", (OPENSCS_URI, 15008), -1)
