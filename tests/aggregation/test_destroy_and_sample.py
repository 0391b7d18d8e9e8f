"""Destroying units and taking QA samples: signed commands with schema-valid EPCIS events, so
every bucket of the reconciliation can be reached and the batch still balances."""

from __future__ import annotations

import io
import sys
from pathlib import Path

import jsonschema
import pytest

from linectl.cli import main
from linectl.ledger import SerialState, UnitResult, Verdict
from linectl.lifecycle import EventFactory, record_verdicts, return_unused
from tests.aggregation.conftest import LINE, Line, schema_errors
from tests.people import People


@pytest.fixture
def config(tmp_path: Path, line: Line) -> Path:
    path = tmp_path / "line.toml"
    path.write_text(
        f'[line]\nid = "{LINE.id}"\nread_point = "{LINE.read_point}"\n'
        f'biz_location = "{LINE.biz_location}"\ncompany_prefix_length = 7\n'
        f'[ledger]\npath = "{line.ledger.path}"\n'
    )
    return path


def test_destroy_is_signed_and_its_event_is_schema_valid(
    line: Line,
    config: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    schema: jsonschema.Draft7Validator,
) -> None:
    units = line.commission(4)
    line.packer.add_units(units)  # a full, closed case: the destroy unpacks it first
    people = People(line.ledger)
    people.add("qa.anna", "qa", "Anna QA")
    people.session("qa.anna")
    mark = line.head()
    monkeypatch.setattr(sys, "stdin", io.StringIO(people.passwords["qa.anna"] + "\n"))
    argv = ["--config", str(config), "--password-stdin", "unit", "destroy", units[0]]
    code = main([*argv, "--reason", "crushed in the infeed"])
    out, err = capsys.readouterr()
    assert code == 0, err
    assert "signed by Anna QA (qa.anna)" in out and "event destroying:" in out
    kinds = [b["bizStep"] for b in line.bodies(mark)]
    assert kinds == ["unpacking", "destroying"]
    destroying = line.bodies(mark)[-1]
    assert (destroying["action"], destroying["disposition"]) == ("DELETE", "destroyed")
    assert schema_errors(schema, line.bodies(mark)) == []
    assert line.ledger.trace(units[0]).state is SerialState.DESTROYED
    with line.ledger.identity.read() as rows:
        (sig,) = rows.signatures("rework", "unit destroy")
    assert sig.printed_name == "Anna QA" and sig.meaning == "performed"


def test_every_bucket_of_the_reconciliation_is_reached_and_the_batch_balances(
    line: Line, schema: jsonschema.Draft7Validator
) -> None:
    good = line.commission(8)
    taken = line.ledger.take_for_encoding("B1", 2)
    rejects = [
        UnitResult(s, 100 + i, Verdict.REJECT, reason="no-read") for i, s in enumerate(taken)
    ]
    record_verdicts(line.ledger, EventFactory(LINE, line.ledger.get_work_order("B1")), rejects)
    mark = line.head()
    rework = line.rework
    rework.sample(good[:2], actor="qa.anna", reason="retained samples")
    rework.destroy([good[2]], actor="qa.anna", reason="crushed")
    rework.decommission(good[3:5], actor="qa.anna", reason="dented")
    rework.destroy([good[4]], actor="qa.anna", reason="dented beyond repair")  # Inactive
    assert schema_errors(schema, line.bodies(mark)) == []
    unused = line.ledger.reconcile("B1").unused
    return_unused(line.ledger, "B1", actor="sv.sam", reason="batch end", serials=None)
    line.ledger.close_work_order("B1", actor="sv.sam")
    line.ledger.batches.release(
        "B1", actor="qa.quinn", reason="ok", events_for=lambda *_: [], sign=lambda *_: None
    )
    rec = line.ledger.reconcile("B1")
    assert rec.balanced, rec.problems
    assert (rec.commissioned, rec.scrapped, rec.sampled, rec.destroyed, rec.returned) == (
        3, 2 + 1, 2, 2, unused,
    )  # fmt: skip
    assert rec.by_state == {
        "Unallocated": unused, "LabelScrapped": 2, "Sampled": 2, "Inactive": 1,
        "Destroyed": 2, "Released": 3,
    }  # fmt: skip
    assert (rec.planned, rec.made) == (200, 8)
    assert "planned 200, made 8 (4.0 % of plan, short by 192)" in rec.to_table()
