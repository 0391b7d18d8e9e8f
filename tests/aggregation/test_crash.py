"""Crash safety of case closing: after a SIGKILL, or a failure inside the transaction, every case
is either closed with its packing event or still open with its units, never half."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from linectl.aggregation import PackingService, RangeSsccSource
from linectl.config import PackingSettings
from linectl.ledger import ContainerState, Ledger
from linectl.ledger import containers as container_rows
from linectl.ledger.hierarchy import orphans
from linectl.lifecycle import EventFactory
from standards.gs1.epc import format_sgtin, format_sscc
from tests.aggregation.conftest import CASE_RANGE, LINE, Line, event_clock, make_line
from tests.ledger.conftest import GTIN

REPO = Path(__file__).resolve().parents[2]
CASE_SIZE = 3

CHILD = textwrap.dedent(
    """
    import sys
    from linectl.aggregation import PackingService, RangeSsccSource
    from linectl.config import LineSection, PackingSettings, SsccRange
    from linectl.ledger import Ledger, SerialState
    from linectl.ledger import containers as rows
    from linectl.lifecycle import EventFactory

    path, stop_inside, case_size = sys.argv[1], int(sys.argv[2]), int(sys.argv[4])
    line = LineSection.model_validate_json(sys.argv[3])
    ledger = Ledger(path)
    closes = 0
    real_audit = rows.append_audit

    def audit(conn, **row):
        global closes
        real_audit(conn, **row)
        if row["command"] == "containers.close":
            closes += 1
            if closes == stop_inside:  # state and event written, not committed: wait to die
                print("inside", flush=True)
                sys.stdin.readline()

    rows.append_audit = audit
    packer = PackingService(
        ledger,
        EventFactory(line, ledger.get_work_order("B1")),
        RangeSsccSource(ledger, SsccRange("9506000", 0, 1, 99999)),
        PackingSettings(case_size=case_size, pallet_size=0),
    )
    packer.resume()
    for serial in ledger.list_serials("B1", SerialState.COMMISSIONED):
        for case in packer.add_units([serial]):
            print("closed", case.sscc, flush=True)
    print("done", flush=True)
    """
)


def start_child(path: Path, stop_inside: int = 0) -> subprocess.Popen[str]:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    return subprocess.Popen(
        [
            *(sys.executable, "-c", CHILD, str(path), str(stop_inside)),
            *(LINE.model_dump_json(), str(CASE_SIZE)),
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        env=env,
    )


def kill_after(child: subprocess.Popen[str], marker: str, count: int) -> list[str]:
    """Read the child's lines until the ``count``-th starting with ``marker``, then SIGKILL it."""
    seen: list[str] = []
    assert child.stdout is not None
    try:
        for line in child.stdout:
            seen.append(line.strip())
            if line.startswith(marker) and sum(s.startswith(marker) for s in seen) == count:
                break
            assert line.strip() != "done", "the child finished before the kill point"
        child.send_signal(signal.SIGKILL)
    finally:
        child.kill()
        child.wait(timeout=30)
    assert child.returncode == -signal.SIGKILL
    return seen


def assert_whole(ledger: Ledger) -> dict[str, int]:
    """Each case closed with exactly one packing event naming its contents, or open without."""
    counts = {"closed": 0, "open": 0}
    events: dict[str, list[dict[str, object]]] = {}
    for entry in ledger.outbox.peek(1_000_000):
        body = json.loads(entry.body)
        if body.get("bizStep") == "packing":
            events.setdefault(str(body["parentID"]), []).append(body)
    for case in ledger.containers.find():
        parent = format_sscc(case.sscc, LINE.identifier_form, LINE.company_prefix_length)
        serials = ledger.containers.contents(case.sscc).serials
        packing = events.pop(parent, [])
        if case.state is ContainerState.CLOSED:
            counts["closed"] += 1
            assert len(packing) == 1, f"closed case {case.sscc} has {len(packing)} packing events"
            children = [
                format_sgtin(GTIN, s, LINE.identifier_form, LINE.company_prefix_length)
                for s in serials
            ]
            assert packing[0]["childEPCs"] == children
            assert len(serials) == CASE_SIZE
        else:
            counts["open"] += 1
            assert packing == [], f"open case {case.sscc} already has a packing event"
            assert len(serials) < CASE_SIZE
    assert events == {}, "packing events for cases that do not exist"
    report = ledger.verify_audit()
    assert report.ok, str(report)
    return counts


@pytest.fixture
def packed_line(tmp_path: Path) -> Path:
    """A ledger with 150 commissioned units waiting to be packed, closed for the child."""
    made = make_line(tmp_path / "ledger.db", case_size=CASE_SIZE, pallet_size=0)
    made.commission(150)
    made.ledger.close()
    return Path(made.ledger.path)


def resume_and_finish(path: Path) -> dict[str, int]:
    """After the crash: a new packer on the same file packs every unit still loose."""
    with Ledger(path) as ledger:
        assert_whole(ledger)
        packer = PackingService(
            ledger,
            EventFactory(LINE, ledger.get_work_order("B1")),
            RangeSsccSource(ledger, CASE_RANGE),
            PackingSettings(case_size=CASE_SIZE, pallet_size=0),
            clock=event_clock(),
        )
        packer.resume()
        packer.add_units(ledger.containers.read(orphans, "B1"))
        counts = assert_whole(ledger)
        packed = [ledger.containers.contents(c.sscc).serials for c in ledger.containers.find()]
        assert sum(map(len, packed)) == 150
        return counts


def test_sigkill_inside_the_close_transaction_leaves_the_case_open_with_its_units(
    packed_line: Path,
) -> None:
    child = start_child(packed_line, stop_inside=4)
    seen = kill_after(child, "inside", 1)
    assert sum(s.startswith("closed") for s in seen) == 3
    with Ledger(packed_line) as ledger:
        counts = assert_whole(ledger)
        assert counts == {"closed": 3, "open": 1}
        (open_case,) = [c for c in ledger.containers.find() if c.state is ContainerState.OPEN]
        assert len(ledger.containers.contents(open_case.sscc).serials) == CASE_SIZE - 1
    assert resume_and_finish(packed_line) == {"closed": 50, "open": 0}


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_sigkill_at_a_random_point_never_leaves_half_a_case(packed_line: Path, seed: int) -> None:
    closes_before_kill = random.Random(seed).randint(1, 40)
    seen = kill_after(start_child(packed_line), "closed", closes_before_kill)
    assert sum(s.startswith("closed") for s in seen) == closes_before_kill
    with Ledger(packed_line) as ledger:
        counts = assert_whole(ledger)
        assert counts["closed"] >= closes_before_kill  # reported closes are durable
    assert resume_and_finish(packed_line)["closed"] == 50


def test_a_failure_inside_the_close_rolls_back_the_state_and_the_event(
    line: Line, monkeypatch: pytest.MonkeyPatch
) -> None:
    units = line.commission(4)
    line.packer.add_units(units[:3])
    case = line.packer.status().case
    assert case is not None
    real = container_rows.append_audit

    def failing(conn: object, **row: object) -> object:
        if row["command"] == "containers.close":
            raise OSError("disk full")
        return real(conn, **row)  # type: ignore[arg-type]

    monkeypatch.setattr(container_rows, "append_audit", failing)
    with pytest.raises(OSError, match="disk full"):
        line.packer.add_units(units[3:])
    monkeypatch.undo()
    assert line.ledger.containers.get(case).state is ContainerState.OPEN
    assert line.ledger.containers.contents(case).serials == tuple(units[:3])
    kinds = [e.kind for e in line.ledger.outbox.peek(1000)]
    assert "packing" not in kinds
    (closed,) = line.packer.add_units(units[3:])  # the line retries: now it closes whole
    assert closed.sscc == case
    assert line.ledger.containers.contents(case).serials == tuple(units)
    assert line.ledger.verify_audit().ok
