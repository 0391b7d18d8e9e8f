"""The PackML NodeSet read with ElementTree (not through asyncua), as the conformance tests'
expectation: each node's class, browse name, data type, value rank, type definition, modelling
rule and the reference that ties it to its parent."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path

UA = "{http://opcfoundation.org/UA/2011/03/UANodeSet.xsd}"
UAX = "{http://opcfoundation.org/UA/2008/02/Types.xsd}"
RULES = {"i=78": "Mandatory", "i=80": "Optional", "i=11508": "OptionalPlaceholder",
         "i=11510": "MandatoryPlaceholder"}  # fmt: skip
SKIP = {"HasModellingRule", "HasTypeDefinition", "HasSubtype", "GeneratesEvent", "HasEncoding",
        "HasDescription", "FromState", "ToState", "HasCause", "HasEffect"}  # fmt: skip


@dataclass(frozen=True)
class XmlNode:
    node_id: str
    node_class: str  # Object, Variable, Method, ObjectType ...
    name: str
    data_type: str | None
    value_rank: int
    type_definition: str | None
    rule: str | None
    parent: str | None
    reference: str | None  # the reference type from the parent (an alias or a NodeId)
    packml_name: bool = False  # the browse name is in the PackML namespace ("1:Name")


class PackMLNodeSet:
    def __init__(self, path: Path) -> None:
        root = ET.parse(path).getroot()
        aliases = root.find(f"{UA}Aliases")
        self.aliases = {a.attrib["Alias"]: a.text or "" for a in (aliases or [])}
        self.nodes: dict[str, XmlNode] = {}
        self.numbers: dict[str, int] = {}
        self.supertype: dict[str, str] = {}
        parents: dict[str, tuple[str, str]] = {}  # child -> (parent, reference type)
        raw: list[tuple[ET.Element, str, str | None, str | None]] = []
        for el in root:
            node_id = el.attrib.get("NodeId")
            if node_id is None:
                continue
            refs = el.find(f"{UA}References")
            rule = type_def = None
            for ref in refs if refs is not None else []:
                kind, target = ref.attrib["ReferenceType"], ref.text or ""
                forward = ref.attrib.get("IsForward", "true") != "false"
                if kind == "HasModellingRule":
                    rule = RULES.get(target, target)
                elif kind == "HasTypeDefinition":
                    type_def = target
                elif kind == "HasSubtype" and not forward:
                    self.supertype[node_id] = target
                elif kind not in SKIP:
                    if forward:
                        parents.setdefault(target, (node_id, kind))
                    else:
                        parents.setdefault(node_id, (target, kind))
            raw.append((el, node_id, rule, type_def))
        for el, node_id, rule, type_def in raw:
            parent, reference = parents.get(node_id, (None, None))
            name = el.attrib["BrowseName"].split(":")[-1]
            data_type = el.attrib.get("DataType")
            self.nodes[node_id] = XmlNode(
                node_id, el.tag.removeprefix(UA).removeprefix("UA"), name,
                self.aliases.get(data_type, data_type) if data_type else None,
                int(el.attrib.get("ValueRank", "-1")), type_def, rule, parent, reference,
                el.attrib["BrowseName"].startswith("1:"),
            )  # fmt: skip
        for node in self.nodes.values():
            if node.name == "StateNumber" and node.parent is not None:
                el = next(e for e, i, _, _ in raw if i == node.node_id)
                value = el.find(f"{UA}Value/{UAX}UInt32")
                if value is not None and value.text:
                    self.numbers[node.parent] = int(value.text)

    def by_name(self, name: str, node_class: str | None = None) -> XmlNode:
        found = [
            n for n in self.nodes.values() if n.name == name and node_class in (None, n.node_class)
        ]
        assert len(found) == 1, f"{name}: {found}"
        return found[0]

    def children(self, parent: str) -> dict[str, XmlNode]:
        return {n.name: n for n in self.nodes.values() if n.parent == parent}

    def declared(self, type_id: str) -> dict[str, XmlNode]:
        """Children a PackML type and its PackML supertypes declare (the subtype's win)."""
        chain = []
        current: str | None = type_id
        while current is not None and current in self.nodes:
            chain.append(current)
            current = self.supertype.get(current)
        out: dict[str, XmlNode] = {}
        for t in reversed(chain):
            out |= self.children(t)
        return out

    def states(self, type_id: str) -> dict[str, tuple[str, int]]:
        """State name -> (its NodeId, StateNumber) of a state machine type and supertypes."""
        return {
            name: (node.node_id, self.numbers[node.node_id])
            for name, node in self.declared(type_id).items()
            if node.node_id in self.numbers
        }
