"""PackML numbers and transitions checked against the OPC 30050 PackML NodeSet (standards)."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from standards.packml import (
    CLEARED_STATES,
    RUNNING_STATES,
    STATE_COMPLETE,
    TRANSITIONS,
    PackMLCommand,
    PackMLState,
    next_state,
)

UA = "{http://opcfoundation.org/UA/2011/03/UANodeSet.xsd}"
UAX = "{http://opcfoundation.org/UA/2008/02/Types.xsd}"


def _nodeset(standards: Path) -> ET.Element:
    return ET.parse(standards / "opcua" / "PackML" / "Opc.Ua.PackML.NodeSet2.xml").getroot()


def _names(root: ET.Element) -> dict[str, str]:
    return {
        el.attrib["NodeId"]: el.attrib["BrowseName"].split(":")[-1]
        for el in root
        if "NodeId" in el.attrib and "BrowseName" in el.attrib
    }


def _state_numbers(root: ET.Element) -> dict[str, int]:
    names = _names(root)
    numbers: dict[str, int] = {}
    for el in root.iter(f"{UA}UAVariable"):
        if el.attrib.get("BrowseName") != "StateNumber":
            continue
        value = el.find(f"{UA}Value/{UAX}UInt32")
        if value is not None and value.text is not None:
            numbers[names[el.attrib["ParentNodeId"]]] = int(value.text)
    return numbers


def _transitions(root: ET.Element) -> list[tuple[str, str, str | None]]:
    """(from, to, cause method or None) for every transition object of the NodeSet."""
    names = _names(root)
    found = []
    for el in root:
        refs = el.find(f"{UA}References")
        if refs is None:
            continue

        def forward(kind: str, refs: ET.Element = refs) -> list[str]:
            return [
                names.get(r.text or "", r.text or "")
                for r in refs
                if r.attrib.get("ReferenceType") == kind and r.attrib.get("IsForward") != "false"
            ]

        frm, to, cause = forward("FromState"), forward("ToState"), forward("HasCause")
        if frm and to:
            found.append((frm[0], to[0], cause[0] if cause else None))
    return found


def test_state_numbers_are_the_nodeset_state_numbers(standards: Path) -> None:
    numbers = _state_numbers(_nodeset(standards))
    # Running (18) and Cleared (19) are superstates; the 17 states proper are 1-17, 0 Undefined
    proper = {name: n for name, n in numbers.items() if name not in {"Running", "Cleared"}}
    assert len(proper) == 17
    for name, number in proper.items():
        assert PackMLState[name.upper()] == number, name
    assert {s.value for s in PackMLState} == set(range(18))


def _expand(name: str) -> frozenset[PackMLState]:
    if name == "Running":
        return RUNNING_STATES
    if name == "Cleared":
        return CLEARED_STATES
    return frozenset({PackMLState[name.upper()]})


def _entry(name: str) -> PackMLState:
    """The state a transition into a superstate lands in (its initial substate)."""
    if name == "Running":
        return PackMLState.RESETTING
    if name == "Cleared":
        return PackMLState.CLEARING
    return PackMLState[name.upper()]


def test_command_transitions_are_exactly_the_nodesets(standards: Path) -> None:
    expected: dict[tuple[PackMLState, PackMLCommand], PackMLState] = {}
    for frm, to, cause in _transitions(_nodeset(standards)):
        if cause is None or cause.upper() not in PackMLCommand.__members__:
            continue  # state-complete transitions and ToComplete (no command number)
        for state in _expand(frm):
            expected[(state, PackMLCommand[cause.upper()])] = _entry(to)
    assert dict(TRANSITIONS) == expected


def test_state_complete_transitions_are_the_nodesets(standards: Path) -> None:
    automatic = {
        (PackMLState[frm.upper()], PackMLState[to.upper()])
        for frm, to, cause in _transitions(_nodeset(standards))
        if cause is None
    }
    assert set(STATE_COMPLETE.items()) == automatic


@pytest.mark.parametrize(
    ("state", "command", "target"),
    [
        (PackMLState.IDLE, PackMLCommand.START, PackMLState.STARTING),
        (PackMLState.STOPPED, PackMLCommand.RESET, PackMLState.RESETTING),
        (PackMLState.HELD, PackMLCommand.UNHOLD, PackMLState.UNHOLDING),
        (PackMLState.EXECUTE, PackMLCommand.START, None),
        (PackMLState.ABORTED, PackMLCommand.STOP, None),
        (PackMLState.ABORTING, PackMLCommand.ABORT, None),
    ],
)
def test_next_state(state: PackMLState, command: PackMLCommand, target: PackMLState | None) -> None:
    assert next_state(state, command) == target
