"""The case camera on the running line (issue 13, Done-when 6).

The simulated case packer spoils three cases as they close: one pack swapped for a pack of
another batch, one pack missing, one pack carrying the code of another pack of the case. The
case camera pushes a frame of what lies in each case; the daemon checks each case against its
frame and rejects exactly those three, each with its reason, while the clean cases around them
are labelled, verified and stacked, and the batch reconciles.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from linectl.config import LineSection
from linectl.ledger import Ledger, UnitResult, Verdict
from linectl.lifecycle import EventFactory, record_verdicts
from linectl.line.control import Command
from simulators.case_packer import CaseFault
from simulators.line import Defect
from simulators.plc import PlcSimulator
from simulators.printer_zpl import ZplPrinterSimulator
from standards.gs1.elements import ProductCode, element_string
from standards.packml import PackMLState
from tests.e2e.ground_truth import serial_of
from tests.e2e.rig import EXPIRY, GTIN, Rig, ScriptedFaults, line_rig

pytestmark = pytest.mark.e2e

OLD_BATCH, OLD_LOT = "B-E2E-0", "L2610Z"
PACK_DEFECTS = {9: Defect.NO_PRINT, 30: Defect.WRONG_CONTENT}  # rejected at the gate
FAULTS = {2: CaseFault.OTHER_BATCH, 4: CaseFault.MISSING, 6: CaseFault.DUPLICATE}
REASON = {
    CaseFault.OTHER_BATCH: "other-batch",
    CaseFault.MISSING: "missing",
    CaseFault.DUPLICATE: "duplicate-in-frame",
}
OLD_LINE = LineSection(
    id="e2e-line",
    read_point="urn:epc:id:sgln:0950600.01343.1",
    biz_location="urn:epc:id:sgln:0950600.01343.0",
    company_prefix_length=7,
)


async def an_earlier_batch(ledger: Ledger, _plc: PlcSimulator, _p: ZplPrinterSimulator) -> None:
    """A batch made before, with three packs commissioned: one of them strays into a case."""
    ledger.create_work_order(
        batch=OLD_BATCH, gtin=GTIN, lot=OLD_LOT, expiry=EXPIRY, quantity=3,
        target_market="DE", actor="tester",
    )  # fmt: skip
    ledger.import_serials(OLD_BATCH, GTIN, ["OLD0001", "OLD0002", "OLD0003"], "tester")
    ledger.start_work_order(OLD_BATCH, actor="tester")
    taken = ledger.take_for_encoding(OLD_BATCH, 3)
    factory = EventFactory(OLD_LINE, ledger.get_work_order(OLD_BATCH))
    record_verdicts(ledger, factory, [UnitResult(s, i, Verdict.GOOD) for i, s in enumerate(taken)])


def checks(rig: Rig) -> dict[str, dict[str, object]]:
    """The audit rows ``case.check`` by SSCC (the last one of each case)."""
    rows = [e for e in rig.ledger.audit_entries(limit=100_000) if e.command == "case.check"]
    return {str(json.loads(e.after)["sscc"]): json.loads(e.after) for e in rows}


async def test_a_spoilt_case_is_rejected_with_its_reason_and_the_clean_ones_are_accepted(
    tmp_path: Path,
) -> None:
    aggregation = {"case_size": 6, "pallet_size": 3, "case_check": "camera",
                   "case_frame_timeout_s": 30.0}  # fmt: skip
    async with line_rig(
        tmp_path, packs=60, pool=90, packs_per_minute=1200, aggregation=aggregation,
        prepare=an_earlier_batch, faults=ScriptedFaults(seed=3, forced=PACK_DEFECTS),
    ) as rig:  # fmt: skip
        assert rig.packer is not None and rig.case_camera is not None
        assert rig.rt.packing is not None and rig.rt.packing.checks is not None
        stray = element_string(ProductCode(GTIN, EXPIRY, OLD_LOT, "OLD0002"))
        rig.packer.foreign = stray
        rig.packer.faults = dict(FAULTS)
        packing = rig.rt.packing
        await rig.rt.command(Command.START, user="alice", reason="shift 1")
        await rig.wait(lambda: packing.status()["cases_rejected"] == 3)
        assert rig.alarm("case-diverted")
        await rig.wait_state(PackMLState.COMPLETE)
        status = rig.rt.status()["packing"]
        closed = await rig.rt.command(Command.CLOSE_BATCH, user="alice", reason="done")

        cases = rig.packer.cases
        assert len(cases) >= 9 and all(c.closed and c.label is not None for c in cases)
        good = sum(1 for p in rig.line.history.values() if p.rejected is False)
        assert cases[-1].partial == (good % 6 != 0)  # a batch-end case is checked too
        packed_seqs = {seq for c in cases for seq in c.seqs}
        assert packed_seqs.isdisjoint(PACK_DEFECTS)  # the gate took them out
        by_sscc = {c.label.sscc: c for c in cases if c.label is not None}
        spoilt = {c.label.sscc: c for c in cases if c.fault is not None and c.label is not None}
        assert sorted(c.number for c in spoilt.values()) == sorted(FAULTS)
        found = checks(rig)
        assert set(found) == set(by_sscc)  # every case was checked against its frame
        assert status["rejected"] == {
            sscc: found[sscc]["reasons"] for sscc in spoilt
        }  # what status shows is what the audit trail holds
        assert sorted(status["diverted"]) == sorted(spoilt)
        for sscc, case in spoilt.items():
            assert case.fault is not None
            row = found[sscc]
            assert row["ok"] is False
            reasons = list(row["reasons"])  # type: ignore[call-overload]
            assert reasons[0] == REASON[case.fault], (case.number, row)
            named = {f["serial"] for f in row["findings"]}  # type: ignore[attr-defined]
            gone = [c for c, s in zip(case.codes, case.slots, strict=True) if c != s]
            assert len(gone) == 1  # exactly one pack is not what line order put there
            if case.fault is CaseFault.OTHER_BATCH:
                assert "OLD0002" in named and serial_of(gone[0]) in named
                assert set(reasons) == {"other-batch", "missing"}
            elif case.fault is CaseFault.MISSING:
                assert serial_of(gone[0]) in named and set(reasons) == {"missing"}
            else:
                assert set(reasons) == {"duplicate-in-frame", "missing"}
                assert serial_of(gone[0]) in named
            # not read, not stacked: the case waits for rework, on no pallet
            assert case.pallet is None
            assert rig.ledger.containers.get(sscc).parent is None
        for sscc, case in by_sscc.items():
            if sscc in spoilt:
                continue
            assert found[sscc]["ok"] is True and found[sscc]["reasons"] == [], case.number
            assert rig.ledger.containers.get(sscc).parent is not None  # stacked on a pallet
            assert case.pallet is not None
            contents = rig.ledger.containers.contents(sscc).serials
            assert set(contents) == {serial_of(c) for c in case.codes}, case.number

        packed = closed["result"]["packing"]
        assert sorted(packed["diverted"]) == sorted(spoilt)
        rec = closed["result"]["reconciliation"]
        assert rec["balanced"] and rec["orphans"]["count"] == 0
        # the line ran on through each reject: the next case was checked, read and stacked
        # after it, before the batch ended
        audit = rig.ledger.audit_entries(limit=100_000)
        order = {
            (e.command, str(json.loads(e.after)["sscc"])): e.id
            for e in audit
            if e.command in ("case.check", "label.verify")
        }
        label_of = {c.number: c.label.sscc for c in cases if c.label is not None}
        for number in FAULTS:
            after = label_of[number + 1]
            assert order["case.check", label_of[number]] < order["label.verify", after]
        assert not any(a["holds"] for a in rig.rt.alarms())
        await rig.check_invariants()  # a diverted case still agrees, events and rows
