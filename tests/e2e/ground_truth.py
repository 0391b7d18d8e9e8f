"""Ground truth for end-to-end runs: what the simulators saw, pack by pack, against what the
daemon recorded (no false accept, the right reason for each defect, late rejects within bounds).
"""

from __future__ import annotations

from simulators.line import Defect
from tests.e2e.rig import Rig

IMAGE_DEFECTS = frozenset({Defect.SMUDGE, Defect.LOW_CONTRAST, Defect.MISSING_MODULES, Defect.BLUR})
EXPECTED_REASON = {
    Defect.NO_PRINT: "no-print",
    Defect.WRONG_CONTENT: "wrong-content",
    Defect.DUPLICATE: "duplicate",
}


def serial_of(data: str | None) -> str | None:
    """The AI (21) value of an element string marked by the printer simulator."""
    if data is None:
        return None
    from standards.gs1.scan import parse_scan

    return parse_scan("]d2" + data).serial


def assert_rejects(rig: Rig, expected: set[int]) -> dict[int, str]:
    """The packs ``expected`` were rejected; any other reject is a late verdict (a loaded 2-core
    box may make one late: a fail-safe reject), at most 3 of them. Returns every reject's reason.
    """
    rejects = {seq: str(u[2]) for seq, u in rig.units().items() if u[1] != "good"}
    others = {seq: why for seq, why in rejects.items() if seq not in expected}
    assert expected <= rejects.keys(), rejects
    assert set(others.values()) <= {"late"} and len(others) <= 3, others
    return rejects


def check_ground_truth(rig: Rig) -> dict[str, int]:
    """Compare, pack by pack, what the simulators saw with what the daemon recorded.

    Asserts: no false accept (a pack passed only if it carries exactly the code sent for it,
    unique, and the ledger commissioned that serial); the PLC's gate outcome and the ledger's
    verdict agree; each print defect has its reason; the printer put every job on the pack it
    was predicted for. Returns counts by outcome for further checks.
    """
    units = rig.units()
    outcome = {e.seq: e.outcome for e in rig.plc.events}
    printed_by_seq = {r.seq: r for r in rig.printer.engine.log}
    states = rig.serial_states()
    passed_codes: list[str] = []
    counts: dict[str, int] = {"packs": 0, "good": 0, "reject": 0, "unserialised": 0}
    for seq, pack in sorted(rig.line.history.items()):
        if pack.rejected is None:
            continue  # still on the conveyor
        counts["packs"] += 1
        record = printed_by_seq.get(seq)
        unit = units.get(seq)
        if record is not None:
            assert record.host_seq == seq, f"pack {seq} got the job meant for {record.host_seq}"
        if unit is None:
            counts["unserialised"] += 1
            assert pack.rejected, f"pack {seq} has no serial but passed the gate"
            continue
        serial, verdict, reason = unit
        assert serial_of(pack.intended) == serial, f"pack {seq}: ledger serial {serial}"
        assert (verdict == "good") == (not pack.rejected), f"pack {seq}: {verdict} vs gate"
        assert (outcome[seq] == 1) == (verdict == "good")
        if verdict == "good":
            counts["good"] += 1
            assert pack.printed == pack.intended, f"FALSE ACCEPT pack {seq}: {pack.printed!r}"
            truth = rig.camera.truth.get(seq)
            assert truth is not None and truth.code_visible and truth.printed == pack.intended
            assert pack.defect in (None, *IMAGE_DEFECTS), f"pack {seq} {pack.defect} passed"
            assert states[serial] == 7  # Commissioned
            passed_codes.append(pack.printed or "")
            continue
        counts["reject"] += 1
        assert states[serial] == 6  # LabelScrapped
        if pack.reject_confirmed is False:
            assert reason == "reject-unconfirmed", f"pack {seq}: {reason}"
        elif pack.defect in EXPECTED_REASON and serial_of(pack.printed) != serial:
            assert reason == EXPECTED_REASON[pack.defect], f"pack {seq} {pack.defect}: {reason}"
        elif pack.defect is Defect.NO_PRINT:
            assert reason == "no-print", f"pack {seq}: {reason}"
    assert len(passed_codes) == len(set(passed_codes)), "a code passed twice"
    return counts
