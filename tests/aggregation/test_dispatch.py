"""Dispatch: a released pallet ships with one schema-valid shipping event (source, destination,
order), cannot be reworked while away, still lists its units, shows in trace, and comes back
with a receiving event after which its units may be reworked again."""

from __future__ import annotations

import io
import json
import sys
from pathlib import Path

import jsonschema
import pytest

from linectl.aggregation.dispatch import Dispatch
from linectl.cli import main
from linectl.ledger import ContainerError, IllegalTransition, SerialState, ValidationError
from linectl.lifecycle import release_events
from standards.gs1.checkdigit import check_digit
from tests.aggregation.conftest import LINE, Line, schema_errors
from tests.people import People

CUSTOMER = "urn:epc:id:sgln:4012345.00002.0"
GLN = "950600000001" + check_digit("950600000001")  # of urn:epc:id:sgln:9506000.00001.0


def palletised(line: Line) -> tuple[list[str], list[str], str]:
    units = line.commission(12)
    cases = [c.sscc for c in line.packer.add_units(units)]
    outcome = None
    for sscc in cases:
        outcome = line.packer.verify_label(sscc, f"]C100{sscc}")
    assert outcome is not None and outcome.closed_pallet is not None
    return units, cases, outcome.closed_pallet.sscc


def released(line: Line) -> None:
    line.ledger.close_work_order("B1", actor="sv.sam")
    line.ledger.batches.release(
        "B1", actor="qa.quinn", reason="ok", events_for=release_events(LINE), sign=lambda *_: None
    )


@pytest.fixture
def dispatch(line: Line) -> Dispatch:
    return Dispatch(line.ledger, LINE, clock=line.clock)


def test_a_released_pallet_ships_with_source_destination_and_order_in_one_valid_event(
    line: Line, dispatch: Dispatch, schema: jsonschema.Draft7Validator
) -> None:
    units, cases, pallet = palletised(line)
    released(line)
    mark = line.head()
    shipment = dispatch.ship(pallet, to=CUSTOMER, order="PO-4711", actor="sv.sam", reason="out")
    (event,) = line.bodies(mark)
    assert (event["type"], event["action"]) == ("ObjectEvent", "OBSERVE")
    assert (event["bizStep"], event["disposition"]) == ("shipping", "in_transit")
    assert event["sourceList"] == [{"type": "location", "source": LINE.biz_location}]
    assert event["destinationList"] == [{"type": "location", "destination": CUSTOMER}]
    assert event["bizTransactionList"] == [
        {"type": "po", "bizTransaction": f"urn:epcglobal:cbv:bt:{GLN}:PO-4711"}
    ]
    epcs = event["epcList"]
    assert len(epcs) == 1 + 3 + 12 and epcs[0].startswith("urn:epc:id:sscc:9506000.")
    assert sorted(e.rsplit(".", 1)[1] for e in epcs[4:]) == sorted(units)
    assert schema_errors(schema, [event]) == []
    assert shipment.event_id == event["eventID"] and shipment.destination == CUSTOMER
    assert line.ledger.shipments.latest(cases[1]) == shipment  # a case travels with its pallet


def test_only_a_closed_released_top_level_container_ships(line: Line, dispatch: Dispatch) -> None:
    _, cases, pallet = palletised(line)
    with pytest.raises(ContainerError, match=r"12 units in .* are not Released .*Commissioned"):
        dispatch.ship(pallet, to=CUSTOMER, order=None, actor="sv.sam", reason="out")
    released(line)
    with pytest.raises(ContainerError, match=f"is on pallet {pallet}: ship the pallet"):
        dispatch.ship(cases[0], to=CUSTOMER, order=None, actor="sv.sam", reason="out")
    with pytest.raises(ValidationError, match="SGLN"):
        dispatch.ship(pallet, to="urn:epc:id:sgtin:9506000.013435.1", order=None,
                      actor="sv.sam", reason="out")  # fmt: skip
    dispatch.ship(pallet, to=CUSTOMER, order=None, actor="sv.sam", reason="out")
    with pytest.raises(ContainerError, match="was shipped to"):
        dispatch.ship(pallet, to=CUSTOMER, order=None, actor="sv.sam", reason="again")


def test_a_shipped_case_cannot_be_reworked_until_it_is_received_back(
    line: Line, dispatch: Dispatch, schema: jsonschema.Draft7Validator
) -> None:
    units, cases, pallet = palletised(line)
    released(line)
    dispatch.ship(pallet, to=CUSTOMER, order="PO-1", actor="sv.sam", reason="out")
    rework = line.rework
    with pytest.raises(ContainerError, match=f"container {cases[0]} on {pallet} was shipped"):
        rework.remove_unit(cases[0], units[0], actor="qa.anna", reason="damaged")
    with pytest.raises(ContainerError, match="was shipped"):
        rework.reopen(pallet, actor="qa.anna", reason="rework")
    with pytest.raises((ContainerError, IllegalTransition)):
        rework.decommission([units[0]], actor="qa.anna", reason="damaged")
    assert line.ledger.trace(units[0]).state is SerialState.RELEASED

    mark = line.head()
    back = dispatch.receive(pallet, source=CUSTOMER, actor="sv.sam", reason="wrong address")
    (event,) = line.bodies(mark)
    assert (event["bizStep"], event["disposition"]) == ("receiving", "returned")
    assert event["sourceList"] == [{"type": "location", "source": CUSTOMER}]
    assert event["destinationList"] == [{"type": "location", "destination": LINE.biz_location}]
    assert event["bizTransactionList"][0]["bizTransaction"].endswith(":PO-1")
    assert schema_errors(schema, [event]) == []
    assert back.kind == "returned" and line.ledger.shipments.latest(pallet) is None
    assert {line.ledger.trace(u).state for u in units} == {SerialState.COMMISSIONED}
    rework.decommission([units[0]], actor="qa.anna", reason="damaged in transit")
    assert line.ledger.trace(units[0]).state is SerialState.INACTIVE
    with pytest.raises(ContainerError, match="was not shipped"):
        dispatch.receive(pallet, source=CUSTOMER, actor="sv.sam", reason="twice")


@pytest.fixture
def config(tmp_path: Path, line: Line) -> Path:
    path = tmp_path / "line.toml"
    path.write_text(
        f'[line]\nid = "{LINE.id}"\nread_point = "{LINE.read_point}"\n'
        f'biz_location = "{LINE.biz_location}"\ncompany_prefix_length = 7\n'
        f'[ledger]\npath = "{line.ledger.path}"\n'
    )
    return path


def test_through_the_cli_a_shipped_pallet_still_lists_its_units_and_trace_shows_the_shipment(
    line: Line, config: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    units, cases, pallet = palletised(line)
    released(line)
    people = People(line.ledger)
    people.add("sv.sam", "supervisor", "Sam Supervisor")
    people.add("op.eve", "operator", "Eve Operator")
    monkeypatch.setattr(sys, "stdin", io.StringIO(""))

    def run(*argv: str) -> tuple[int, str, str]:
        code = main(["--config", str(config), *argv])
        out, err = capsys.readouterr()
        return code, out, err

    people.session("op.eve")
    code, _, err = run("ship", pallet, "--to", CUSTOMER)
    assert code == 2 and "op.eve (role operator) may not ship" in err
    people.session("sv.sam")
    code, out, err = run("ship", f"(00){pallet}", "--to", CUSTOMER, "--order", "PO-9")
    assert code == 0, err
    assert f"shipped pallet {pallet} (12 units) to {CUSTOMER} under order PO-9" in out

    code, out, _ = run("contents", pallet)
    assert code == 0
    listed = [ln.split()[2] for ln in out.splitlines() if ln.strip().startswith("unit ")]
    assert sorted(listed) == sorted(units)
    code, out, _ = run("trace", units[5])
    assert code == 0 and f"on pallet {pallet}" in out
    assert f"shipped {pallet} to {CUSTOMER} at " in out and "order PO-9" in out
    assert "event shipping: " in out
    code, out, _ = run("trace", units[5], "--json")
    assert json.loads(out)["shipments"][0]["destination"] == CUSTOMER

    monkeypatch.setattr(sys, "stdin", io.StringIO(people.passwords["sv.sam"] + "\n"))
    code, _, err = run("--password-stdin", "case", "remove", cases[1], units[5], "--reason", "x")
    assert code == 2 and "was shipped" in err
    code, out, err = run("receive", pallet, "--from", CUSTOMER, "--reason", "refused by customer")
    assert code == 0, err
    assert f"received pallet {pallet} (12 units) back from {CUSTOMER}" in out
    code, out, _ = run("trace", f"]C100{pallet}")
    assert f"returned {pallet} from {CUSTOMER}" in out
