"""Queries and commands on the hierarchy: contents, trace up to the pallet, recall of a lot, the
reconciliation's containers and orphans, and rework through the ``linectl`` command line."""

from __future__ import annotations

import io
import json
import sys
from pathlib import Path

import pytest

from linectl.cli import main
from linectl.ledger import SerialState
from tests.aggregation.conftest import LINE, Line, make_batch
from tests.people import People


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(["--password-stdin", *args])
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture(autouse=True)
def anna(line: Line, monkeypatch: pytest.MonkeyPatch) -> str:
    """QA user qa.anna, logged in on the test line's ledger: the CLI runs as her, and her
    password is on stdin for the signatures rework asks for."""
    people = People(line.ledger)
    password = people.add("qa.anna", "qa", "Anna QA")
    people.session("qa.anna")
    monkeypatch.setattr(sys, "stdin", io.StringIO(f"{password}\n" * 20))
    return "qa.anna"


@pytest.fixture
def config(tmp_path: Path, line: Line) -> Path:
    """A line configuration naming the test line and its ledger (rework writes events)."""
    path = tmp_path / "line.toml"
    path.write_text(
        f'[line]\nid = "{LINE.id}"\nread_point = "{LINE.read_point}"\n'
        f'biz_location = "{LINE.biz_location}"\ncompany_prefix_length = 7\n'
        f'[ledger]\npath = "{line.ledger.path}"\n'
    )
    return path


def palletised(line: Line) -> tuple[list[str], list[str], str]:
    units = line.commission(12)
    cases = [c.sscc for c in line.packer.add_units(units)]
    outcome = None
    for sscc in cases:
        outcome = line.packer.verify_label(sscc, f"]C100{sscc}")
    assert outcome is not None and outcome.closed_pallet is not None
    return units, cases, outcome.closed_pallet.sscc


def test_contents_of_a_pallet_lists_exactly_its_serials(
    line: Line, capsys: pytest.CaptureFixture[str]
) -> None:
    units, cases, pallet = palletised(line)
    line.packer.add_units(line.commission(2))  # an open case elsewhere
    code, out, _ = run(capsys, "--ledger", line.ledger.path, "contents", pallet)
    assert code == 0
    listed = [ln.split()[2] for ln in out.splitlines() if ln.strip().startswith("unit ")]
    assert sorted(listed) == sorted(units)
    assert out.splitlines()[0].startswith(f"pallet {pallet}  closed")
    assert all(f"case {c}" in out for c in cases)
    code, out, _ = run(capsys, "--ledger", line.ledger.path, "contents", f"(00){pallet}", "--json")
    tree = json.loads(out)
    assert tree["units_total"] == 12 and [c["sscc"] for c in tree["children"]] == cases
    assert [u["serial"] for u in tree["children"][0]["units"]] == units[:4]


def test_trace_shows_the_whole_chain_up_to_the_pallet(
    line: Line, capsys: pytest.CaptureFixture[str]
) -> None:
    units, cases, pallet = palletised(line)
    code, out, _ = run(capsys, "--ledger", line.ledger.path, "trace", units[5])
    assert code == 0
    assert f"in case {cases[1]} (closed, 4 units)" in out
    assert f"on pallet {pallet} (closed, 3 cases, 12 units)" in out
    assert out.count("event packing") >= 3  # the case's, the pallet's, and the unit's own
    code, out, _ = run(capsys, "--ledger", line.ledger.path, "trace", f"]C100{pallet}")
    assert out.startswith(f"in pallet {pallet}")
    code, out, _ = run(capsys, "--ledger", line.ledger.path, "trace", units[5], "--json")
    chain = json.loads(out)["chain"]
    assert [link["container"]["sscc"] for link in chain] == [cases[1], pallet]


def test_recall_lists_every_unit_case_and_pallet_of_the_lot(
    line: Line, capsys: pytest.CaptureFixture[str]
) -> None:
    units, cases, pallet = palletised(line)
    line.rework.decommission([units[0]], actor="qa.anna", reason="crushed")
    make_batch(line.ledger, "B2", 3, lot="OTHER")
    code, out, _ = run(capsys, "--ledger", line.ledger.path, "recall", "LOTB1", "--json")
    assert code == 0
    found = json.loads(out)
    assert found["batches"] == ["B1"]
    states = {u["serial"]: u["state"] for u in found["units"]}
    assert (
        len(states) == 200 and states[units[0]] == "Inactive" and states[units[1]] == "Commissioned"
    )
    assert {u["serial"]: u["container"] for u in found["units"]}[units[5]] == cases[1]
    containers = {c["sscc"]: c for c in found["containers"]}
    assert set(containers) == {*cases, pallet}
    assert (containers[pallet]["cases"], containers[pallet]["units"]) == (3, 11)
    code, out, _ = run(capsys, "--ledger", line.ledger.path, "recall", "NOPE")
    assert code == 2


def test_the_reconciliation_lists_every_case_and_pallet_with_counts_and_the_orphans(
    line: Line, capsys: pytest.CaptureFixture[str]
) -> None:
    _, cases, pallet = palletised(line)
    loose = line.commission(3)
    rec = line.ledger.reconcile("B1")
    assert rec.balanced
    counts = {c.sscc: (c.level, c.state, c.units, c.cases, c.parent) for c in rec.containers}
    assert counts[pallet] == ("pallet", "closed", 12, 3, None)
    assert all(counts[c] == ("case", "closed", 4, 0, pallet) for c in cases)
    assert rec.orphans == tuple(loose)
    code, out, _ = run(capsys, "--ledger", line.ledger.path, "report", "B1")
    assert code == 0
    assert "containers: 1 pallets, 3 cases" in out
    assert f"pallet {pallet}" in out and "orphans (commissioned, in no case): 3" in out
    data = json.loads(run(capsys, "--ledger", line.ledger.path, "report", "B1", "--json")[1])
    assert data["orphans"]["serials"] == loose and len(data["containers"]) == 4


def test_rework_through_the_command_line(
    line: Line, config: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    units, cases, pallet = palletised(line)
    (spare,) = line.commission(1)
    base = ("--config", str(config))
    code, out, _ = run(
        capsys, *base, "case", "replace", cases[0], units[0], spare, "--reason", "torn"
    )
    assert code == 0, out
    assert [ln.split()[1] for ln in out.splitlines() if ln.startswith("  event")] == [
        "unpacking:",
        "packing:",
    ]
    assert f"relabel {cases[0]}" in out and f"relabel {pallet}" in out
    assert "signed by Anna QA (qa.anna)" in out and "performed" in out  # rework is signed
    code, out, _ = run(capsys, *base, "unit", "decommission", units[1], "--reason", "crushed")
    assert code == 0 and "decommissioning" in out
    assert line.ledger.trace(units[1]).state is SerialState.INACTIVE
    code, out, _ = run(capsys, *base, "pallet", "break", pallet, "--reason", "restack")
    assert code == 0 and line.ledger.containers.contents(pallet).children == ()
    code, _, err = run(capsys, *base, "case", "remove", cases[1], units[0], "--reason", "x")
    assert code == 2 and "not in case" in err
    audit = [
        a
        for a in line.ledger.audit_entries(limit=10_000)
        if a.actor == "qa.anna" and not a.command.startswith(("login", "user.", "rework."))
    ]
    assert {a.reason for a in audit} == {"torn", "crushed", "restack"}
    assert line.ledger.verify_audit().ok


def test_rework_without_a_configuration_is_refused(
    line: Line, capsys: pytest.CaptureFixture[str]
) -> None:
    units, cases, _ = palletised(line)
    code, _, err = run(
        capsys, "--ledger", line.ledger.path, "case", "remove", cases[0], units[0], "--reason", "x"
    )
    assert code == 2 and "--config" in err
    assert units[0] in line.ledger.containers.contents(cases[0]).serials


def test_orphans_command_lists_then_applies_the_policy(
    line: Line, config: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    loose = line.commission(2)
    line.packer.add_units(line.commission(4))
    code, out, _ = run(capsys, "--config", str(config), "orphans", "B1")
    assert code == 0 and out.split()[2] == "2" and set(out.split()[-2:]) == set(loose)
    code, out, _ = run(capsys, "--config", str(config), "orphans", "B1", "--policy", "decommission")
    assert code == 0 and "decommissioning" in out
    assert {line.ledger.trace(s).state for s in loose} == {SerialState.INACTIVE}
    code, out, _ = run(capsys, "--config", str(config), "orphans", "B1")
    assert out.split()[2] == "0"
