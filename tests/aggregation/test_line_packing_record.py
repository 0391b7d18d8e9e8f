"""What the running line leaves in the ledger: the rows, seals, audit chain and EPCIS events of a
short packing sequence, driven as the daemon drives it (write-ahead chunks, verdict groups of
five, packing per group, a label verified per closed case and pallet).

The digest pins every row of every table to what the code before the ledger speed-up
(commit 843a65f) wrote for the same sequence: making the hot path cheaper must not change one
byte of what it records.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

from linectl.aggregation import PackingService, RangeSsccSource
from linectl.config import PackingSettings
from linectl.ledger import ContainerLevel, ContainerState, Ledger, SerialState, UnitResult, Verdict
from linectl.ledger.hierarchy import tree
from linectl.lifecycle import EventFactory, record_verdicts
from linectl.line.assignments import assignment
from standards.epcis.hashing import event_hash
from tests.aggregation.conftest import CASE_RANGE, LINE, event_clock, make_batch
from tests.ledger.conftest import dump, step_clock

KEY = bytes(range(32))
PACKS = 160  # 154 good: 12 full cases (a pallet of 10 closes, 2 on the next), 10 units open
EXPECTED_DIGEST = "1968819a8e0ea276c6ff66aee7eb74de808e9ea3fb75f981e949c31f7620af1a"


def run_line(path: Path) -> dict[str, Any]:
    """The sequence on a fresh ledger; what the packer reported along the way."""
    reports: dict[str, Any] = {"actions": []}
    with Ledger(path, clock=step_clock()) as ledger:
        ledger.identity.attach_audit_key(KEY, create=True)
        make_batch(ledger, "B1", PACKS + 16)
        clock = event_clock()
        factory = EventFactory(LINE, ledger.get_work_order("B1"))
        settings = PackingSettings(case_size=12, pallet_size=10)
        packer = PackingService(
            ledger, factory, RangeSsccSource(ledger, CASE_RANGE), settings, clock=clock
        )
        packer.resume()
        reserve: list[str] = []
        seq = reads = 0
        while seq < PACKS:
            group = []
            for _ in range(5):
                if not reserve:
                    first = seq + 1
                    reserve += ledger.take_for_encoding(
                        "B1", 16, then=lambda s, first=first: assignment("B1", first, s)
                    )
                seq += 1
                if seq % 23 == 0:
                    group.append(UnitResult(reserve.pop(0), seq, Verdict.REJECT, reason="no-read"))
                else:
                    group.append(UnitResult(reserve.pop(0), seq, Verdict.GOOD, grade="A"))
            record_verdicts(ledger, factory, group, clock=clock)
            good = [u.serial for u in group if u.verdict is Verdict.GOOD]
            closed = packer.add_units(good)
            packer.status()  # as the line asks after each group
            todo = [c.label for c in closed]
            while todo:
                label = todo.pop(0)
                reads += 1
                read = None if reads % 7 == 0 else f"]C100{label.sscc}"  # now and then no read
                outcome = packer.verify_label(label.sscc, read)
                reports["actions"].append(outcome.action)
                packer.status()  # as the line asks after each verification
                if not outcome.accepted:
                    todo.insert(0, label)
                if outcome.closed_pallet is not None:
                    todo.append(outcome.closed_pallet.label)
        reports["end"] = packer.status()
        assert ledger.verify_audit(key=KEY).ok
    return reports


def digest(path: Path) -> str:
    """sha256 of every row of every table, in a stable order."""
    text = json.dumps(dump(path), sort_keys=True, default=repr)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def test_the_line_records_exactly_what_it_recorded_before(tmp_path: Path) -> None:
    path = tmp_path / "ledger.db"
    run_line(path)
    assert digest(path) == EXPECTED_DIGEST


def test_packs_cases_pallet_and_events_add_up(tmp_path: Path) -> None:
    path = tmp_path / "ledger.db"
    reports = run_line(path)
    rejected = PACKS // 23
    with Ledger(path) as ledger:
        ledger.identity.attach_audit_key(KEY)
        assert ledger.verify_audit(key=KEY).ok
        counts = ledger.state_counts("B1")
        assert counts[SerialState.COMMISSIONED] == PACKS - rejected
        assert counts[SerialState.LABEL_SCRAPPED] == rejected
        cases = ledger.containers.find(batch="B1", level=ContainerLevel.CASE)
        pallets = ledger.containers.find(batch="B1", level=ContainerLevel.PALLET)
        full = (PACKS - rejected) // 12
        assert [c.state for c in cases].count(ContainerState.CLOSED) == full
        assert len(cases) == full + 1  # the one the last units went into, still open
        assert [p.state for p in pallets] == [ContainerState.CLOSED, ContainerState.OPEN]
        closed_pallet = pallets[0].sscc
        node = ledger.containers.read(tree, closed_pallet)
        assert node.unit_count == 120 and len(node.children) == 10
        end = reports["end"]
        assert end.case == cases[-1].sscc and end.case_units == (PACKS - rejected) % 12
        assert end.pallet == pallets[1].sscc and end.pallet_cases == 2
        assert end.awaiting_label == ()  # every label read again until accepted
        assert "reprint" in reports["actions"]
        bodies = [json.loads(e.body) for e in ledger.outbox.peek(100_000)]
    for body in bodies:  # each event's ID is its canonical EPCIS hash
        assert body["eventID"] == event_hash(body)
    steps = [b["bizStep"] for b in bodies]
    assert steps.count("packing") == full + 1  # every closed case and the pallet
    assert steps.count("commissioning") == PACKS // 5 + len(cases) + len(pallets)
