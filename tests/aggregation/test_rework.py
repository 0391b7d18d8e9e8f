"""Rework: every command changes the hierarchy, queues its EPCIS events in the right order
(unpacking before re-packing), writes audit rows with user and reason, and keeps the ledger
verifiable."""

from __future__ import annotations

import json
from typing import Any

import jsonschema
import pytest

from linectl.aggregation import ReworkResult
from linectl.config import OrphanPolicy
from linectl.ledger import ContainerError, ContainerState, SerialState, ValidationError
from standards.gs1.epc import format_sgtin, format_sscc
from tests.aggregation.conftest import LINE, Line, make_batch, schema_errors
from tests.ledger.conftest import GTIN

WHO = {"actor": "qa.anna", "reason": "damaged flap"}


def urn(serial: str) -> str:
    return format_sgtin(GTIN, serial, LINE.identifier_form, LINE.company_prefix_length)


def sscc_urn(sscc: str) -> str:
    return format_sscc(sscc, LINE.identifier_form, LINE.company_prefix_length)


def events_of(line: Line, result: ReworkResult) -> list[dict[str, Any]]:
    """The bodies of the events a command queued, in queue order."""
    by_id = {e.event_id: json.loads(e.body) for e in line.ledger.outbox.peek(100_000)}
    return [by_id[event_id] for _, event_id in result.events]


def steps(events: list[dict[str, Any]]) -> list[tuple[str, str]]:
    return [(e["bizStep"], e["action"]) for e in events]


def checked(line: Line, schema: jsonschema.Draft7Validator, result: ReworkResult) -> list[Any]:
    """Events of the command: schema-valid, the ledger verifies, the audit names who and why."""
    events = events_of(line, result)
    assert schema_errors(schema, events) == []
    report = line.ledger.verify_audit()
    assert report.ok, str(report)
    rows = [a for a in line.ledger.audit_entries(limit=10_000) if a.actor == WHO["actor"]]
    assert rows and all(a.reason == WHO["reason"] for a in rows)
    return events


def palletised(line: Line) -> tuple[list[str], list[str], str]:
    """Twelve units in three closed, verified cases on a closed pallet: (units, cases, pallet)."""
    units = line.commission(12)
    cases = [c.sscc for c in line.packer.add_units(units)]
    outcome = None
    for sscc in cases:
        outcome = line.packer.verify_label(sscc, f"]C100{sscc}")
    assert outcome is not None and outcome.closed_pallet is not None
    return units, cases, outcome.closed_pallet.sscc


def test_removing_a_unit_from_a_closed_case_unpacks_it(
    line: Line, schema: jsonschema.Draft7Validator
) -> None:
    units, cases, pallet = palletised(line)
    result = line.rework.remove_unit(cases[0], units[1], **WHO)
    events = checked(line, schema, result)
    assert steps(events) == [("unpacking", "DELETE")]
    assert events[0]["parentID"] == sscc_urn(cases[0]) and events[0]["childEPCs"] == [urn(units[1])]
    assert line.ledger.containers.contents(cases[0]).serials == (units[0], units[2], units[3])
    assert line.ledger.containers.get(cases[0]).state is ContainerState.CLOSED
    assert line.ledger.trace(units[1]).containers == ()
    assert line.ledger.trace(units[1]).state is SerialState.COMMISSIONED
    assert result.relabel == (cases[0], pallet)  # both counts changed
    commands = [a.command for a in line.ledger.audit_entries(limit=10_000) if a.actor == "qa.anna"]
    assert commands == ["containers.reopen", "containers.unpack", "containers.close"]


def test_replacing_a_unit_unpacks_the_old_before_packing_the_new(
    line: Line, schema: jsonschema.Draft7Validator
) -> None:
    units, cases, _ = palletised(line)
    (spare,) = line.commission(1)
    result = line.rework.replace_unit(cases[1], units[5], spare, **WHO)
    events = checked(line, schema, result)
    assert steps(events) == [("unpacking", "DELETE"), ("packing", "ADD")]
    assert events[0]["childEPCs"] == [urn(units[5])]
    assert events[1]["childEPCs"] == [urn(spare)]  # only what came in, not the whole case
    assert set(line.ledger.containers.contents(cases[1]).serials) == {
        units[4],
        spare,
        units[6],
        units[7],
    }
    assert [c.sscc for c in line.ledger.trace(spare).containers][:1] == [cases[1]]


def test_decommissioning_a_packed_unit_unpacks_it_first(
    line: Line, schema: jsonschema.Draft7Validator
) -> None:
    units, cases, _ = palletised(line)
    result = line.rework.decommission([units[2]], **WHO)
    events = checked(line, schema, result)
    assert steps(events) == [("unpacking", "DELETE"), ("decommissioning", "DELETE")]
    assert events[1]["epcList"] == [urn(units[2])] and events[1]["disposition"] == "inactive"
    assert units[2] not in line.ledger.containers.contents(cases[0]).serials
    assert line.ledger.trace(units[2]).state is SerialState.INACTIVE


def test_decommissioning_an_unpacked_unit_needs_no_unpacking(
    line: Line, schema: jsonschema.Draft7Validator
) -> None:
    (loose,) = line.commission(1)
    result = line.rework.decommission([loose], **WHO)
    assert steps(checked(line, schema, result)) == [("decommissioning", "DELETE")]
    assert result.relabel == ()


def test_a_qa_sample_is_unpacked_then_sampled_then_ended(
    line: Line, schema: jsonschema.Draft7Validator
) -> None:
    units, cases, _ = palletised(line)
    result = line.rework.sample([units[9]], **WHO)
    events = checked(line, schema, result)
    assert steps(events) == [
        ("unpacking", "DELETE"),
        ("sampling", "OBSERVE"),
        ("destroying", "DELETE"),
    ]
    assert line.ledger.trace(units[9]).state is SerialState.SAMPLED
    assert units[9] not in line.ledger.containers.contents(cases[2]).serials


def test_reopen_and_reclose_announce_only_what_changed(
    line: Line, schema: jsonschema.Draft7Validator
) -> None:
    units, cases, _ = palletised(line)
    (spare,) = line.commission(1)
    assert line.rework.reopen(cases[0], **WHO).events == ()  # opening a box is no event
    assert line.ledger.containers.get(cases[0]).state is ContainerState.REOPENED
    out = line.rework.remove_unit(cases[0], units[0], **WHO)
    assert steps(events_of(line, out)) == [("unpacking", "DELETE")]  # at once: it left
    added = line.rework.add_unit(cases[0], spare, **WHO)
    assert added.events == ()  # announced when the case closes
    closed = line.rework.close(cases[0], **WHO)
    events = checked(line, schema, closed)
    assert steps(events) == [("packing", "ADD")]
    assert events[0]["childEPCs"] == [urn(spare)]
    assert line.ledger.containers.get(cases[0]).state is ContainerState.CLOSED
    with pytest.raises(ContainerError, match="already closed"):
        line.rework.close(cases[0], **WHO)


def test_closing_the_partial_line_case_at_batch_end_packs_all_of_it(
    line: Line, schema: jsonschema.Draft7Validator
) -> None:
    units = line.commission(3)
    line.packer.add_units(units)
    case = line.packer.status().case
    assert case is not None
    events = checked(line, schema, line.rework.close(case, **WHO))
    assert steps(events) == [("packing", "ADD")]
    assert events[0]["childEPCs"] == [urn(s) for s in units]


def test_a_unit_leaving_a_case_never_closed_needs_no_event(line: Line) -> None:
    units = line.commission(2)
    line.packer.add_units(units)
    case = line.packer.status().case
    assert case is not None
    assert line.rework.remove_unit(case, units[0], **WHO).events == ()
    assert line.ledger.containers.contents(case).serials == (units[1],)


def test_breaking_up_a_pallet_unpacks_every_case_before_they_are_restacked(
    line: Line, schema: jsonschema.Draft7Validator
) -> None:
    _, cases, pallet = palletised(line)
    broken = line.rework.break_pallet(pallet, **WHO)
    events = checked(line, schema, broken)
    assert steps(events) == [("unpacking", "DELETE")]
    assert events[0]["parentID"] == sscc_urn(pallet)
    assert events[0]["childEPCs"] == [sscc_urn(c) for c in cases]
    assert line.ledger.containers.contents(pallet).children == ()
    assert line.ledger.containers.get(pallet).state is ContainerState.REOPENED
    assert all(line.ledger.containers.get(c).parent is None for c in cases)
    restacked = line.rework.stack(pallet, cases[:2], **WHO)
    assert restacked.events == ()  # the pallet is reopened: packed when it closes
    events = checked(line, schema, line.rework.close(pallet, **WHO))
    assert steps(events) == [("packing", "ADD")]
    assert events[0]["childEPCs"] == [sscc_urn(c) for c in cases[:2]]
    queue = [json.loads(e.body) for e in line.ledger.outbox.peek(100_000)]
    on_pallet = [steps([e])[0] for e in queue if e.get("parentID") == sscc_urn(pallet)]
    assert on_pallet == [("packing", "ADD"), ("unpacking", "DELETE"), ("packing", "ADD")]


def test_stacking_onto_a_closed_pallet_reopens_and_recloses_it(
    line: Line, schema: jsonschema.Draft7Validator
) -> None:
    _, cases, pallet = palletised(line)
    line.rework.break_pallet(pallet, **WHO)
    line.rework.close(pallet, **WHO)  # closed empty
    result = line.rework.stack(pallet, [cases[2]], **WHO)
    events = checked(line, schema, result)
    assert steps(events) == [("packing", "ADD")]
    assert result.relabel == (pallet,)


def test_a_unit_of_another_batch_is_refused_and_nothing_changes(line: Line) -> None:
    units, cases, _ = palletised(line)
    make_batch(line.ledger, "B2", 5)
    (stranger,) = line.commission(1, batch="B2")
    before = line.ledger.outbox.counts()
    with pytest.raises(ContainerError, match="of batch B2"):
        line.rework.replace_unit(cases[0], units[0], stranger, **WHO)
    assert line.ledger.outbox.counts() == before
    assert units[0] in line.ledger.containers.contents(cases[0]).serials
    assert line.ledger.containers.get(cases[0]).state is ContainerState.CLOSED


def test_a_unit_is_removed_only_from_the_case_it_is_in(line: Line) -> None:
    units, cases, _ = palletised(line)
    with pytest.raises(ContainerError, match=f"not in case {cases[1]}"):
        line.rework.remove_unit(cases[1], units[0], **WHO)


def test_rework_needs_a_reason(line: Line) -> None:
    units, cases, _ = palletised(line)
    with pytest.raises(ValidationError, match="reason"):
        line.rework.remove_unit(cases[0], units[0], actor="qa.anna", reason=" ")


def test_orphans_are_decommissioned_by_policy(
    line: Line, schema: jsonschema.Draft7Validator
) -> None:
    units = line.commission(6)
    line.packer.add_units(units[:4])
    report = line.rework.handle_orphans("B1", OrphanPolicy.DECOMMISSION, **WHO)
    assert report.serials == tuple(units[4:])
    assert [kind for kind, _ in report.events] == ["decommissioning"]
    assert all(line.ledger.trace(s).state is SerialState.INACTIVE for s in units[4:])
    events = checked(line, schema, ReworkResult(report.events))
    assert events[0]["epcList"] == [urn(s) for s in units[4:]]
    assert line.ledger.reconcile("B1").orphans == ()


def test_held_orphans_stay_commissioned_and_are_listed(line: Line) -> None:
    units = line.commission(6)
    line.packer.add_units(units[:4])
    report = line.rework.handle_orphans("B1", "hold", **WHO)
    assert report.events == () and report.serials == tuple(units[4:])
    rec = line.ledger.reconcile("B1")
    assert rec.orphans == tuple(units[4:]) and rec.balanced
    assert any(a.command == "aggregation.orphans" for a in line.ledger.audit_entries(limit=999))
    assert line.ledger.verify_audit().ok
