"""The twelve OPEN-SCS serial states and the transition table the ledger enforces."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from linectl.ledger import (
    BUCKET_OF,
    TERMINAL,
    TRANSITIONS,
    IllegalTransition,
    SerialState,
    is_legal,
)

S = SerialState
UA = "{http://opcfoundation.org/UA/2011/03/UANodeSet.xsd}"


def nodeset_states(standards: Path) -> dict[str, int]:
    """Field names (without the trailing value digits) and values of the OPEN-SCS state enum."""
    path = standards / "opcua" / "OpenSCS" / "Opc.Ua.OPENSCS.NodeSet2.xml"
    root = ET.parse(path).getroot()
    for node in root.iter(f"{UA}UADataType"):
        if node.get("BrowseName") == "1:OPENSCSSerialNumberStateEnum":
            fields = node.find(f"{UA}Definition")
            assert fields is not None
            result = {}
            for field in fields.iter(f"{UA}Field"):
                value = int(field.get("Value", "-1"))
                name = field.get("Name", "")
                assert name.endswith(str(value))
                result[name[: -len(str(value))]] = value
            return result
    raise AssertionError("OPENSCSSerialNumberStateEnum not found in the NodeSet")


def test_states_match_the_opc_ua_openscs_nodeset(standards: Path) -> None:
    expected = nodeset_states(standards)
    assert len(expected) == 12
    assert {s.label: s.value for s in SerialState} == expected


def test_every_state_has_a_row_in_the_transition_table_and_no_self_loops() -> None:
    assert set(TRANSITIONS) == set(SerialState)
    for state, targets in TRANSITIONS.items():
        assert state not in targets
        assert targets <= set(SerialState)


def test_every_state_is_reachable_from_unassigned() -> None:
    seen, todo = {S.UNASSIGNED}, [S.UNASSIGNED]
    while todo:
        for target in TRANSITIONS[todo.pop()]:
            if target not in seen:
                seen.add(target)
                todo.append(target)
    assert seen == set(SerialState)


@pytest.mark.parametrize(
    ("from_state", "to_state"),
    [
        (S.ALLOCATED, S.ENCODED),  # write-ahead before print
        (S.ALLOCATED, S.UNALLOCATED),  # returned upstream at batch close
        (S.ALLOCATED, S.SN_INVALID),
        (S.ENCODED, S.COMMISSIONED),
        (S.ENCODED, S.LABEL_SCRAPPED),
        (S.ENCODED, S.LABEL_SAMPLED),
        (S.COMMISSIONED, S.SAMPLED),
        (S.COMMISSIONED, S.INACTIVE),
        (S.COMMISSIONED, S.DESTROYED),
        (S.COMMISSIONED, S.RELEASED),
        (S.SAMPLED, S.DESTROYED),
        (S.INACTIVE, S.DESTROYED),
        (S.UNASSIGNED, S.UNALLOCATED),
        (S.UNALLOCATED, S.ALLOCATED),
        (S.RELEASED, S.COMMISSIONED),  # a shipped pallet came back (linectl receive)
    ],
)
def test_line_transitions_are_legal(from_state: SerialState, to_state: SerialState) -> None:
    assert is_legal(from_state, to_state)


@pytest.mark.parametrize(
    ("from_state", "to_state"),
    [
        (S.ENCODED, S.ALLOCATED),  # a serial that may be printed never becomes printable again
        (S.ENCODED, S.SN_INVALID),  # a printed code must be accounted as scrapped
        (S.ALLOCATED, S.COMMISSIONED),  # nothing is commissioned without being encoded first
        (S.COMMISSIONED, S.ENCODED),
        (S.LABEL_SCRAPPED, S.COMMISSIONED),
        (S.INACTIVE, S.COMMISSIONED),  # serials are never reused
        (S.RELEASED, S.ENCODED),
        (S.RELEASED, S.INACTIVE),  # a return is received (Commissioned) before anything else
        (S.DESTROYED, S.RELEASED),
        (S.SN_INVALID, S.ALLOCATED),
        (S.COMMISSIONED, S.COMMISSIONED),
    ],
)
def test_dangerous_transitions_are_illegal(from_state: SerialState, to_state: SerialState) -> None:
    assert not is_legal(from_state, to_state)


def test_terminal_states_are_the_ends_of_a_serial_life() -> None:
    assert {S.SN_INVALID, S.LABEL_SAMPLED, S.LABEL_SCRAPPED, S.DESTROYED} == TERMINAL


def test_every_state_falls_into_exactly_one_reconciliation_bucket() -> None:
    assert set(BUCKET_OF) == set(SerialState)


@pytest.mark.parametrize("text", ["LabelScrapped", "label_scrapped", "LABEL_SCRAPPED", "6"])
def test_states_parse_from_label_name_or_number(text: str) -> None:
    assert SerialState.parse(text) is S.LABEL_SCRAPPED


def test_an_unknown_state_name_lists_the_known_ones() -> None:
    with pytest.raises(ValueError, match="Commissioned") as caught:
        SerialState.parse("Shipped")
    assert "'Shipped'" in str(caught.value)


def test_illegal_transition_names_serial_from_and_to() -> None:
    error = IllegalTransition("ABC123", S.ENCODED, S.ALLOCATED)
    assert (error.serial, error.from_state, error.to_state) == ("ABC123", S.ENCODED, S.ALLOCATED)
    assert "'ABC123'" in str(error)
    assert "Encoded -> Allocated" in str(error)
