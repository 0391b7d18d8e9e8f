"""The demo's ground-truth check catches every way the daemon could disagree with the line."""

from __future__ import annotations

import json
import tomllib
from pathlib import Path

import pytest

from linectl.demo_processes import parse_ports, toml_text
from linectl.demo_truth import (
    CAMERA_PITCHES,
    GATE_PITCHES,
    PrintEntry,
    UnitRow,
    compare,
    read_print_log,
    stalled_around,
)
from simulators.line import LineLayout

GS = "\x1d"


def code(serial: str, lot: str = "DEMO01") -> str:
    return "010401234500001617281130" + f"10{lot}{GS}21{serial}"


def clean(seq: int, serial: str) -> PrintEntry:
    return PrintEntry(seq, code(serial), code(serial), None)


def test_clean_packs_that_pass_and_defects_rejected_with_their_reason_are_ok() -> None:
    prints = {
        1: clean(1, "S1"),
        2: PrintEntry(2, None, code("S2"), "no-print"),
        3: PrintEntry(3, code("X9", lot="W1"), code("S3"), "wrong-content"),
        4: PrintEntry(4, code("S1"), code("S4"), "duplicate"),
        5: PrintEntry(5, code("S5"), code("S5"), "smudge"),
        6: PrintEntry(6, code("S6"), code("S6"), "low-contrast"),
    }
    units = {
        1: UnitRow(1, "S1", "good", None),
        2: UnitRow(2, "S2", "reject", "no-print"),
        3: UnitRow(3, "S3", "reject", "wrong-content"),
        4: UnitRow(4, "S4", "reject", "duplicate"),
        5: UnitRow(5, "S5", "good", None),  # smudged, but the code survived intact
        6: UnitRow(6, "S6", "reject", "low-grade"),
    }
    report = compare(prints, units)
    assert report.ok and report.packs == 6 and report.clean_passed == 1
    assert report.defects_rejected == 4 and report.readable_passed["smudge"] == 1
    assert report.summary() == (
        "ground truth: 6 packs, 1 clean passed, 4 defects rejected, 1 damaged but readable "
        "passed, 0 false accepts, 0 false rejects"
    )


PASSED = UnitRow(1, "S1", "good", None)


@pytest.mark.parametrize(
    "entry",
    [
        PrintEntry(1, None, code("S1"), "no-print"),
        PrintEntry(1, code("X", "W"), code("S1"), "wrong-content"),
        PrintEntry(1, code("S1"), code("S1"), "duplicate"),
    ],
)
def test_a_print_defect_that_passed_is_a_false_accept(entry: PrintEntry) -> None:
    report = compare({1: entry}, {1: PASSED})
    assert not report.ok and len(report.false_accepts) == 1
    assert "1 false accepts" in report.summary()


def test_the_same_code_passing_twice_is_a_false_accept() -> None:
    prints = {1: clean(1, "S1"), 2: clean(2, "S1")}
    units = {1: UnitRow(1, "S1", "good", None), 2: UnitRow(2, "S1", "good", None)}
    report = compare(prints, units)
    assert [f.detail for f in report.false_accepts] == [f"code {code('S1')!r} passed on 2 packs"]


def test_wrong_reason_mismatched_serial_and_missing_unit_are_reported() -> None:
    prints = {1: PrintEntry(1, None, code("S1"), "no-print"), 2: clean(2, "S2"), 3: clean(3, "S3")}
    units = {1: UnitRow(1, "S1", "reject", "no-read"), 2: UnitRow(2, "S9", "good", None)}
    report = compare(prints, units)
    assert not report.ok
    assert [f.seq for f in report.wrong_reasons] == [1]
    assert [f.seq for f in report.mismatches] == [2, 3]


def test_a_clean_pack_rejected_is_a_false_reject_reported_but_not_fatal() -> None:
    report = compare({1: clean(1, "S1")}, {1: UnitRow(1, "S1", "reject", "late")})
    assert report.ok and len(report.false_rejects) == 1
    assert report.problems() == ["false reject: pack 1 (clean): reject late"]


def test_a_pass_on_a_pack_the_printer_never_marked_is_a_false_accept() -> None:
    report = compare({}, {7: UnitRow(7, "S7", "good", None)})
    assert report.units_without_print == 1 and not report.ok


def test_the_print_log_names_the_line_it_cannot_read(tmp_path: Path) -> None:
    log = tmp_path / "prints.jsonl"
    record = {"seq": 1, "data": "x", "intended": "x", "defect": None}
    log.write_text(json.dumps(record) + "\n{not json}\n")
    with pytest.raises(ValueError, match="line 2"):
        read_print_log(log)


def test_toml_text_round_trips_a_line_configuration() -> None:
    data = {
        "line": {"id": "demo", "name": 'quote " and backslash \\'},
        "thresholds": {"min_grade": "C", "verdict_deadline_ms": 150.0, "hold": True},
        "devices": {"plc": {"kind": "plc", "port": 5020, "options": {}}},
        "simulation": {"defects": {"no-print": 0.01}, "list": [1, 2]},
    }
    assert tomllib.loads(toml_text(data)) == data


def test_parse_ports_reads_the_simulators_ready_line() -> None:
    line = "simulated line ready: plc=5020 printer=9100 camera=19200 opcua=opc.tcp://x:1/p"
    assert parse_ports(line) == {"plc": 5020, "printer": 9100, "camera": 19200}


def test_the_stall_check_knows_where_the_simulated_camera_and_gate_stand() -> None:
    layout = LineLayout()
    assert (layout.camera, layout.gate) == (CAMERA_PITCHES, GATE_PITCHES)


def test_a_pause_of_the_simulated_line_around_a_pack_is_found() -> None:
    pitch = 0.02
    steady = {seq: seq * pitch for seq in range(1, 40)}
    assert stalled_around(10, steady, pitch) is None
    paused = {seq: t + (0.1 if seq >= 20 else 0.0) for seq, t in steady.items()}
    assert stalled_around(15, paused, pitch) == pytest.approx(0.12)  # tick 19 -> 20
    assert stalled_around(25, paused, pitch) is None  # all of its way after the pause
    assert stalled_around(36, steady, pitch) is None  # no ticks past the end to tell by
    squeezed = dict(steady) | {13: 0.2605, 14: 0.261, 15: 0.2615, 16: 0.262}
    assert stalled_around(10, squeezed, pitch) is not None  # camera -> gate in 1.5 ms


def test_a_false_reject_during_a_pause_of_the_simulated_line_says_so() -> None:
    pitch = 0.02
    prints = {
        seq: PrintEntry(seq, code(f"S{seq}"), code(f"S{seq}"), None, seq * pitch + 0.1 * (seq >= 8))
        for seq in range(1, 20)
    }
    units = {seq: UnitRow(seq, f"S{seq}", "good", None) for seq in prints}
    units[5] = UnitRow(5, "S5", "reject", "late")
    report = compare(prints, units, pitch)
    assert [str(f) for f in report.false_rejects] == [
        "pack 5 (clean): reject late (the simulated line paused 120 ms)"
    ]
