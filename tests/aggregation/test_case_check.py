"""Camera-tunnel case check: one frame of a case's top layer, every code decoded in one call,
each checked against the ledger; a wrong case is rejected naming what was wrong."""

from __future__ import annotations

import json
from collections.abc import Sequence

import numpy as np
import numpy.typing as npt
import pytest

from linectl.aggregation import CaseProblem, check_case_frame
from linectl.ledger import ContainerError
from simulators.case_scene import CaseFrameRenderer
from standards.gs1.elements import ProductCode, element_string
from tests.aggregation.conftest import Line, make_batch
from tests.ledger.conftest import GTIN

RENDERER = CaseFrameRenderer(module_px=4, seed=7)


def code(line: Line, serial: str, batch: str = "B1") -> str:
    order = line.ledger.get_work_order(batch)
    return element_string(ProductCode(GTIN, order.expiry, order.lot, serial))


def frame(
    line: Line, serials: Sequence[str | None], seq: int = 0, columns: int = 6
) -> npt.NDArray[np.uint8]:
    codes = [None if s is None else code(line, s) for s in serials]
    image, truth = RENDERER.render(codes, columns=columns, seq=seq)
    assert truth.printed == tuple(c for c in codes if c is not None)
    return image


def test_a_correct_case_of_24_is_accepted(line: Line) -> None:
    units = line.commission(24)
    check = check_case_frame(frame(line, units), 24, "B1", line.ledger)
    assert check.accepted, check.findings
    assert (check.found, check.findings) == (24, ())
    assert sorted(check.serials) == sorted(units)


def test_a_correct_case_of_100_is_accepted_from_one_decode(line: Line) -> None:
    units = line.commission(100)
    check = check_case_frame(frame(line, units, seq=1, columns=10), 100, "B1", line.ledger)
    assert check.accepted, check.findings
    assert check.found == 100 and sorted(check.serials) == sorted(units)


def test_a_code_from_another_batch_is_named(line: Line) -> None:
    units = line.commission(23)
    make_batch(line.ledger, "B2", 3)
    (stranger,) = line.commission(1, batch="B2")
    codes = [code(line, s) for s in units] + [code(line, stranger, "B2")]
    image, _ = RENDERER.render(codes, columns=6, seq=2)
    check = check_case_frame(image, 24, "B1", line.ledger)
    assert not check.accepted
    assert check.reasons == (CaseProblem.OTHER_BATCH.value,)
    assert [f.serial for f in check.findings] == [stranger]
    assert stranger not in check.serials and len(check.serials) == 23


def test_a_unit_already_in_another_case_is_named(line: Line) -> None:
    units = line.commission(28)
    (other_case,) = line.packer.add_units(units[24:28])  # case size 4 in these tests
    mixed = [*units[:23], units[25]]
    check = check_case_frame(frame(line, mixed, seq=3), 24, "B1", line.ledger)
    assert check.reasons == (CaseProblem.IN_OTHER_CONTAINER.value,)
    assert check.findings[0].serial == units[25]
    assert other_case.sscc in check.findings[0].detail


def test_a_duplicate_code_is_named(line: Line) -> None:
    units = line.commission(23)
    check = check_case_frame(frame(line, [*units, units[5]], seq=4), 24, "B1", line.ledger)
    assert check.reasons == (CaseProblem.DUPLICATE_IN_FRAME.value,)
    assert check.findings[0].serial == units[5]
    assert check.found == 24


def test_a_missing_pack_is_named(line: Line) -> None:
    units = line.commission(23)
    check = check_case_frame(
        frame(line, [*units[:11], None, *units[11:]], seq=5), 24, "B1", line.ledger
    )
    assert check.reasons == (CaseProblem.MISSING.value,)
    assert "23 codes read, 24 expected" in check.findings[0].detail


def test_a_surplus_pack_is_named(line: Line) -> None:
    units = line.commission(25)
    check = check_case_frame(frame(line, units, seq=6), 24, "B1", line.ledger)
    assert check.reasons == (CaseProblem.SURPLUS.value,)


def test_a_serial_never_commissioned_is_named(line: Line) -> None:
    units = line.commission(23)
    never_printed = line.ledger.list_serials("B1")[-1]
    check = check_case_frame(frame(line, [*units, never_printed], seq=7), 24, "B1", line.ledger)
    assert check.reasons == (CaseProblem.NOT_COMMISSIONED.value,)
    assert "Allocated" in check.findings[0].detail
    unknown = check_case_frame(frame(line, [*units, "NOT-IN-LEDGER"], seq=8), 24, "B1", line.ledger)
    assert unknown.reasons == (CaseProblem.NOT_COMMISSIONED.value,)
    assert "not in the ledger" in unknown.findings[0].detail


def test_a_code_without_a_serial_is_unreadable(line: Line) -> None:
    units = line.commission(23)
    codes = [code(line, s) for s in units] + [f"01{GTIN}17281130"]
    image, _ = RENDERER.render(codes, columns=6, seq=9)
    check = check_case_frame(image, 24, "B1", line.ledger)
    assert check.reasons == (CaseProblem.UNREADABLE.value,)


def test_the_units_of_the_case_being_checked_are_not_in_another_container(line: Line) -> None:
    units = line.commission(4)
    (case,) = line.packer.add_units(units)
    image = frame(line, units, seq=10, columns=2)
    assert check_case_frame(image, 4, "B1", line.ledger, case=case.sscc).accepted
    assert check_case_frame(image, 4, "B1", line.ledger).reasons == ("in-other-container",)


def test_an_expected_count_below_one_is_refused(line: Line) -> None:
    with pytest.raises(ValueError, match="expected_count"):
        check_case_frame(frame(line, ["X"]), 0, "B1", line.ledger)


def test_each_unit_packed_into_the_case_but_not_in_the_frame_is_missing_by_name(
    line: Line,
) -> None:
    units = line.commission(5)
    (case,) = line.packer.add_units(units[:4])
    # the fourth pack of the case was swapped for a unit that is in no case yet
    image = frame(line, [*units[:3], units[4]], seq=11, columns=2)
    check = check_case_frame(
        image, 4, "B1", line.ledger, case=case.sscc, packed=line.ledger.containers.contents(
            case.sscc).serials,
    )  # fmt: skip
    assert check.reasons == ("missing",)
    assert [(f.problem.value, f.serial) for f in check.findings] == [("missing", units[3])]
    # without the packed units, the frame alone looks right: that is what line order misses
    assert check_case_frame(image, 4, "B1", line.ledger, case=case.sscc).accepted


def test_a_checked_case_is_an_audit_row_and_a_rejected_one_is_diverted(line: Line) -> None:
    units = line.commission(8)
    first, second = line.packer.add_units(units)
    good = line.packer.check_case(first.sscc, frame(line, units[:4], seq=3, columns=2), frame_seq=3)
    assert good.accepted and line.packer.status().diverted == ()
    missing = line.packer.check_case(second.sscc, None, missing_why="no frame with seq 7")
    assert missing.reasons == ("no-frame",) and missing.findings[0].detail == "no frame with seq 7"
    status = line.packer.status()
    assert status.diverted == (second.sscc,)
    assert status.rejected == {second.sscc: ("no-frame",)}
    rows = [e for e in line.ledger.audit_entries(limit=1000) if e.command == "case.check"]
    after = [json.loads(e.after) for e in rows]
    assert [(a["sscc"], a["ok"], a["reasons"], a["frame_seq"]) for a in after] == [
        (first.sscc, True, [], 3),
        (second.sscc, False, ["no-frame"], None),
    ]
    assert [r.actor for r in rows] == ["line", "line"] and rows[1].reason == "no-frame"
    # a label read that verifies clears the rejection (after rework, say)
    line.packer.verify_label(second.sscc, "]C100" + second.sscc)
    assert line.packer.status().rejected == {} and line.packer.status().diverted == ()


def test_an_open_case_is_not_checked(line: Line) -> None:
    units = line.commission(2)
    line.packer.add_units(units)
    assert line.packer.case is not None
    with pytest.raises(ContainerError, match="is not closed"):
        line.packer.check_case(line.packer.case, None)


def test_packing_goes_on_while_a_case_frame_is_decoded(
    line: Line, monkeypatch: pytest.MonkeyPatch
) -> None:
    import threading

    import linectl.aggregation.case_check as case_check

    units = line.commission(8)
    first = line.packer.add_units(units[:4])
    more = line.commission(2)
    packed_meanwhile: list[object] = []
    decode = case_check.check_case_frame

    def slow_decode(*args: object, **kwargs: object) -> object:
        # while this thread decodes, the line packs its next units on another thread
        other = threading.Thread(
            target=lambda: packed_meanwhile.append(line.packer.add_units(more))
        )
        other.start()
        other.join(timeout=10)
        assert not other.is_alive(), "packing waited for the case check's decode"
        return decode(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(case_check, "check_case_frame", slow_decode)
    (case,) = first
    check = line.packer.check_case(case.sscc, frame(line, units[:4], seq=3, columns=2))
    assert check.accepted and packed_meanwhile == [[]]  # two more units in the open case
    assert line.ledger.containers.contents(line.packer.case or "").serials == tuple(more)


def test_a_case_reworked_while_it_is_checked_is_not_recorded(
    line: Line, monkeypatch: pytest.MonkeyPatch
) -> None:
    import linectl.aggregation.case_check as case_check

    units = line.commission(4)
    (case,) = line.packer.add_units(units)
    before = len(line.ledger.audit_entries(limit=1000))

    def reworked(*args: object, **kwargs: object) -> object:
        boxes = line.ledger.containers  # a rework of the case meanwhile: one pack out
        boxes.reopen(case.sscc, actor="qa", reason="damaged pack")
        boxes.unpack(case.sscc, [units[0]], actor="qa", reason="damaged")
        boxes.close(case.sscc, actor="qa", reason="reworked")
        return case_check.no_frame(4, "stand-in")

    monkeypatch.setattr(case_check, "check_case_frame", reworked)
    with pytest.raises(ContainerError, match="changed while it was checked"):
        line.packer.check_case(case.sscc, frame(line, units, seq=3, columns=2))
    rows = line.ledger.audit_entries(limit=1000)[before:]
    assert not [r for r in rows if r.command == "case.check"]
