"""The demo's ground-truth check catches every way the daemon could disagree with the line."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from harness.truth import (
    EXPECTED_REASONS,
    IMAGE_DEFECTS,
    PrintEntry,
    compare,
    read_print_log,
    stalled_around,
)
from linectl.ledger.unit_rows import UnitRow
from simulators.line import Defect, LineLayout

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


def test_every_defect_the_simulators_inject_has_the_reasons_it_may_be_rejected_for() -> None:
    assert set(EXPECTED_REASONS) == {d.value for d in Defect}
    assert {"smudge", "low-contrast", "missing-modules", "blur"} == IMAGE_DEFECTS
    assert all(EXPECTED_REASONS[d] == {"no-read", "low-grade"} for d in IMAGE_DEFECTS)


PITCH = 0.02
LAYOUT = LineLayout(packs_per_minute=60.0 / PITCH)  # camera 3 and gate 6 pitches after the printer


def test_a_pause_of_the_simulated_line_around_a_pack_is_found() -> None:
    steady = {seq: seq * PITCH for seq in range(1, 40)}
    assert stalled_around(10, steady, LAYOUT) is None
    paused = {seq: t + (0.1 if seq >= 20 else 0.0) for seq, t in steady.items()}
    assert stalled_around(15, paused, LAYOUT) == pytest.approx(0.12)  # tick 19 -> 20
    assert stalled_around(25, paused, LAYOUT) is None  # all of its way after the pause
    assert stalled_around(36, steady, LAYOUT) is None  # no ticks past the end to tell by
    squeezed = dict(steady) | {13: 0.2605, 14: 0.261, 15: 0.2615, 16: 0.262}
    assert stalled_around(10, squeezed, LAYOUT) is not None  # camera -> gate in 1.5 ms


def test_the_stall_check_looks_where_the_layout_puts_the_camera_and_the_gate() -> None:
    steady = {seq: seq * PITCH for seq in range(1, 60)}
    paused = {seq: t + (0.1 if seq >= 30 else 0.0) for seq, t in steady.items()}
    # pack 15 reaches the camera as pack 18 is printed and the gate as pack 21 is: the pause
    # (between the prints of packs 29 and 30) comes after it left
    assert stalled_around(15, paused, LAYOUT) is None
    far = LineLayout(packs_per_minute=LAYOUT.packs_per_minute, camera=12, gate=16, packer=18)
    # on a line with the camera 12 and the gate 16 pitches on, pack 15 is between the two
    # while packs 27 to 31 are printed: the pause falls in its way
    assert stalled_around(15, paused, far) == pytest.approx(0.12)


def test_a_false_reject_during_a_pause_of_the_simulated_line_says_so() -> None:
    pitch = PITCH
    prints = {
        seq: PrintEntry(seq, code(f"S{seq}"), code(f"S{seq}"), None, seq * pitch + 0.1 * (seq >= 8))
        for seq in range(1, 20)
    }
    units = {seq: UnitRow(seq, f"S{seq}", "good", None) for seq in prints}
    units[5] = UnitRow(5, "S5", "reject", "late")
    report = compare(prints, units, LAYOUT)
    assert [str(f) for f in report.false_rejects] == [
        "pack 5 (clean): reject late (the simulated line paused 120 ms)"
    ]
