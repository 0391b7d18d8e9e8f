"""A packaging-material lot change during a batch: recorded with time and user, and every unit
judged after it carries the new lot in its commissioning event, even when the line built its
events with the old lots (the ledger refuses the stale commit and the events are built again)."""

from __future__ import annotations

import io
import json
import sys
from pathlib import Path

import jsonschema
import pytest

from linectl.cli import main
from linectl.ledger import UnitResult, ValidationError, Verdict, WorkOrderStateError
from linectl.lifecycle import EventFactory, record_verdicts
from tests.aggregation.conftest import LINE, Line, schema_errors
from tests.people import People

LOTS = "linectl:packagingMaterialLots"


def lots_of(event: dict[str, object]) -> dict[str, str]:
    ilmd = event["ilmd"]
    assert isinstance(ilmd, dict)
    return {m["linectl:material"]: m["linectl:lot"] for m in ilmd.get(LOTS, [])}


def judge(line: Line, factory: EventFactory, n: int) -> list[str]:
    taken = line.ledger.take_for_encoding("B1", n)
    units = [UnitResult(s, i, Verdict.GOOD, grade="A") for i, s in enumerate(taken)]
    record_verdicts(line.ledger, factory, units, clock=line.clock)
    return taken


def test_units_judged_after_a_label_roll_change_carry_the_new_lot(
    line: Line, schema: jsonschema.Draft7Validator
) -> None:
    factory = EventFactory(LINE, line.ledger.get_work_order("B1"))  # the running line's, kept
    before = judge(line, factory, 3)
    mark = line.head()
    change = line.ledger.batches.change_material(
        "B1", "label-roll", "LR-778", actor="op.otto", reason="roll ran out"
    )
    after = judge(line, factory, 2)  # built first with the old lots: refused, built again

    assert (change.material, change.lot, change.previous, change.actor) == (
        "label-roll", "LR-778", None, "op.otto",
    )  # fmt: skip
    assert line.ledger.batches.material_changes("B1") == [change]
    assert line.ledger.get_work_order("B1").materials == {"label-roll": "LR-778"}
    events = [b for b in line.bodies() if b["bizStep"] == "commissioning"]
    old, new = events[0], events[-1]
    assert lots_of(old) == {} and len(old["epcList"]) == 3
    assert lots_of(new) == {"label-roll": "LR-778"}
    assert [e.rsplit(".", 1)[1] for e in new["epcList"]] == after
    assert len(line.bodies(mark)) == 1  # one commissioning event for the two, not a stale one
    assert schema_errors(schema, [new]) == []
    for serial in before:  # units before the change keep what they were commissioned with
        (entry,) = [e for e in line.ledger.trace(serial).events if e.kind == "commissioning"]
        assert lots_of(json.loads(entry.body)) == {}


def test_a_second_change_names_the_lot_it_replaces_and_bad_changes_are_refused(
    line: Line,
) -> None:
    batches = line.ledger.batches
    batches.change_material("B1", "label-roll", "LR-778", actor="op.otto")
    second = batches.change_material("B1", "label-roll", "LR-779", actor="op.otto")
    assert second.previous == "LR-778" and second.history_mark >= 0
    with pytest.raises(ValidationError, match="already uses label-roll lot LR-779"):
        batches.change_material("B1", "label-roll", "LR-779", actor="op.otto")
    with pytest.raises(ValidationError, match="lot"):
        batches.change_material("B1", "label-roll", "LR 7/8\x00", actor="op.otto")
    line.ledger.close_work_order("B1", actor="sv.sam")
    with pytest.raises(WorkOrderStateError, match="closed; a material change needs it"):
        batches.change_material("B1", "carton", "CT-1", actor="op.otto")
    assert [c.lot for c in batches.material_changes("B1")] == ["LR-778", "LR-779"]


def test_an_operator_records_the_change_through_the_cli(
    line: Line, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    people = People(line.ledger)
    people.add("op.otto", "operator", "Otto Operator")
    people.session("op.otto")
    monkeypatch.setattr(sys, "stdin", io.StringIO(""))
    argv = ["--ledger", line.ledger.path, "batch", "material", "B1"]
    code = main([*argv, "--material", "label-roll=LR-778", "--reason", "new roll"])
    out, err = capsys.readouterr()
    assert code == 0, err
    assert "batch B1: label-roll lot (none) -> LR-778" in out and "by op.otto" in out
    code = main([*argv, "--material", "label-roll"])
    assert code == 2 and "expected NAME=LOT" in capsys.readouterr().err
    audit = [
        e for e in line.ledger.audit_entries(limit=10_000) if e.command == "work_order.material"
    ]
    assert [(e.actor, e.reason) for e in audit] == [("op.otto", "new roll")]
