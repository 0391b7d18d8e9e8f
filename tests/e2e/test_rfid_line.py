"""A batch on a line whose printer encodes each unit's EPC into its tag and whose RFID reader
station checks every tag (issue 16, Done when 2), with faults on both sides:

- printer side (simulators.rfid_inlay, forced on given packs): encode failures (no tag), wrong
  writes (the tag holds another EPC, the printer does not notice), weak tags (-82 dBm);
- reader side (simulators.rfid_reader, forced on the first triggers and seeded after): no-read,
  and a duplicate tag (a second tag with the unit's EPC).

Each is rejected with its reason, nothing is accepted whose tag is not exactly its unit's EPC
(0 false accepts), the ground truth agrees pack by pack, the reconciliation balances with the
RFID rejects under their reasons, every commissioned unit's tag EPC in the ledger is its
serial's EPC, and issue 15's invariants hold.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from linectl.ledger import Ledger
from linectl.line.control import Command
from linectl.line.reasons import RejectReason
from simulators.line import PRINT_DEFECTS, Defect
from simulators.plc import PlcSimulator
from simulators.printer_zpl import ZplPrinterSimulator
from simulators.rfid_inlay import InlayFault, InlayFaults
from simulators.rfid_reader import TagFault, TagFaultRates, Trigger, tid_for
from standards.epc.binary import EpcEncodingError, decode, sgtin_epc
from standards.packml import PackMLState
from tests.e2e.ground_truth import check_ground_truth
from tests.e2e.rig import GTIN, Rig, ScriptedFaults, line_rig

pytestmark = pytest.mark.e2e

PACKS = 120
INLAY_FAULTS = {
    11: InlayFault.ENCODE_FAILURE, 47: InlayFault.ENCODE_FAILURE, 83: InlayFault.ENCODE_FAILURE,
    17: InlayFault.WRONG_WRITE, 53: InlayFault.WRONG_WRITE, 89: InlayFault.WRONG_WRITE,
    29: InlayFault.WEAK_TAG, 65: InlayFault.WEAK_TAG, 101: InlayFault.WEAK_TAG,
}  # fmt: skip
PRINT_FAULTS = {40: Defect.NO_PRINT, 70: Defect.WRONG_CONTENT, 95: Defect.NO_PRINT}
"""Print defects (95 is a no-print on a pack whose tag is fine): the printed code's reason wins."""
READER_FIRST = (TagFault.NO_READ, None, TagFault.DUPLICATE, None, TagFault.NO_READ)
"""Reader faults forced on the first triggers; seeded ones (READER_RATES) follow."""
READER_RATES = TagFaultRates(no_read=0.02, duplicate=0.02)
ENCODE_REJECT = RejectReason.RFID_ENCODE.value
"""A void label's reject: the printer's own report of its read-back (the reader finds no tag)."""
INLAY_REASONS = {
    InlayFault.ENCODE_FAILURE: {ENCODE_REJECT},
    InlayFault.WRONG_WRITE: {"rfid-mismatch"},
    InlayFault.WEAK_TAG: {"rfid-weak"},
}
READER_REASONS = {
    TagFault.NO_READ: {"rfid-no-read"},
    TagFault.WEAK: {"rfid-weak"},
    TagFault.WRONG_EPC: {"rfid-mismatch"},
    TagFault.DUPLICATE: {"rfid-duplicate"},
}
TIMING = {"late", "rfid-no-read", "no-print-confirmation"}
"""What a starved 2-core box may make of a pack (fail-safe rejects), at most a few: a verdict
late, a tag read not paired with its pack (or not triggered, or not judged in time)."""


def epc_of(serial: str) -> str:
    return sgtin_epc(GTIN, serial, 7).hex


def read_of_each_pack(rig: Rig) -> dict[int, Trigger]:
    """pack seq -> the last inventory that had the pack's tag in the field (its TID names it:
    simulators.virtual_line.inlay_tags); a pack whose read was not paired shows up again."""
    by_tid = {tid_for(seq.to_bytes(8, "big")): seq for seq in rig.line.history}
    assert rig.rfid_reader is not None
    found: dict[int, Trigger] = {}
    for trigger in rig.rfid_reader.triggers:
        for tag in trigger.in_field:
            found[by_tid[tag.tid]] = trigger
    return found


def tag_rows(rig: Rig) -> dict[str, tuple[str, str | None, str | None, str]]:
    """serial -> (tag EPC, EPC URI, TID, verdict) of every unit with a tag row in the ledger."""
    conn = sqlite3.connect(rig.ledger.path)
    try:
        rows = conn.execute(
            "SELECT s.serial, t.epc, t.epc_uri, t.tid, u.verdict FROM unit_tags AS t "
            "JOIN units AS u ON u.serial_id = t.serial_id JOIN serials AS s ON s.id = t.serial_id"
        ).fetchall()
    finally:
        conn.close()
    return {str(s): (str(e), uri, tid, str(v)) for s, e, uri, tid, v in rows}


async def test_an_rfid_line_rejects_each_tag_fault_with_its_reason_and_accepts_no_bad_tag(
    tmp_path: Path,
) -> None:
    async def prepare(ledger: Ledger, plc: PlcSimulator, printer: ZplPrinterSimulator) -> None:
        printer.engine.inlays = InlayFaults(seed=7, forced=dict(INLAY_FAULTS))

    faults = ScriptedFaults(seed=3, forced=PRINT_FAULTS)
    async with line_rig(
        tmp_path, packs=PACKS, pool=PACKS + 40, packs_per_minute=600, faults=faults,
        printer_options={"rfid": True}, prepare=prepare,
        rfid_reader={"timeout_s": 0.5, "options": {"inventory_ms": 10, "min_rssi_dbm": -70}},
        thresholds={"verdict_deadline_ms": 200.0},
    ) as rig:  # fmt: skip
        reader = rig.rfid_reader
        assert reader is not None and rig.rt.rfid_station is not None
        reader.rates = READER_RATES
        reader.inject(*READER_FIRST)
        await rig.rt.command(Command.START, user="alice", reason="rfid line")
        await rig.wait_state(PackMLState.COMPLETE)
        await rig.rt.line_end_done()

        counts = check_ground_truth(rig)  # the printed code: no false accept, print reasons
        assert counts["packs"] == PACKS and counts["unserialised"] == 0
        units, reads, tags = rig.units(), read_of_each_pack(rig), tag_rows(rig)
        commissioned = {s for s, v, _ in units.values() if v == "good"}
        seen: dict[str, int] = {}
        timing: dict[int, str | None] = {}
        for seq, pack in sorted(rig.line.history.items()):
            serial, verdict, reason = units[seq]
            read = reads.get(seq)
            inlay_fault = INLAY_FAULTS.get(seq)
            reader_fault = read.fault if read is not None else None
            if verdict == "good":  # 0 false accepts: exactly its EPC, strong, read cleanly
                assert pack.inlay == bytes.fromhex(epc_of(serial)), f"FALSE ACCEPT {seq}"
                assert not pack.inlay_weak and inlay_fault is None, f"FALSE ACCEPT {seq}"
                assert read is not None and reader_fault is None, f"FALSE ACCEPT {seq} {read}"
                continue
            if pack.defect in PRINT_DEFECTS:
                continue  # the printed code's reason, checked by check_ground_truth
            allowed: set[str] = set()
            if inlay_fault is not None:
                allowed |= INLAY_REASONS[inlay_fault]
                if inlay_fault is InlayFault.WRONG_WRITE and pack.inlay is not None:
                    allowed |= _copied(pack.inlay, commissioned)
            if reader_fault is not None and pack.inlay is not None:
                allowed |= READER_REASONS[reader_fault]
            if reason in allowed:
                seen[str(reason)] = seen.get(str(reason), 0) + 1
            else:  # a fail-safe reject of a pack the box's load made late or unpaired
                why = (seq, inlay_fault, reader_fault, reason, rig.rt.status()["rfid"], read)
                assert reason in TIMING, why
                timing[seq] = reason
        station = rig.rt.status()["rfid"]
        unread = sum(1 for r in timing.values() if r == "rfid-no-read")
        assert unread <= station["unpaired"] + station["untriggered"] + station["late"], station
        assert len(timing) <= 5, (timing, station)
        for wanted in ("rfid-mismatch", "rfid-weak", "rfid-no-read", "rfid-duplicate"):
            assert seen.get(wanted, 0) >= 1, (wanted, seen)
        assert seen.get(ENCODE_REJECT, 0) >= 3, seen
        for seq, fault in INLAY_FAULTS.items():  # every forced printer fault was rejected
            assert units[seq][1] == "reject", (seq, fault, units[seq])

        # Done when 2: every commissioned unit's tag EPC in the ledger is its serial's EPC
        assert commissioned and commissioned <= tags.keys()
        for serial in commissioned:
            epc, uri, tid, verdict = tags[serial]
            assert verdict == "good" and epc == epc_of(serial), (serial, epc)
            assert uri == sgtin_epc(GTIN, serial, 7).pure_identity_uri and tid

        status = rig.rt.status()
        assert status["rfid"]["good"] >= len(commissioned)
        assert status["rfid"]["reads"] >= PACKS - 3
        closed = await rig.rt.command(Command.CLOSE_BATCH, user="alice", reason="done")
        rec = closed["result"]["reconciliation"]
        assert rec["balanced"] and rec["in_process"] == 0
        assert rec["commissioned"] == len(commissioned) == counts["good"]
        reasons = rig.rt.status()["reject_reasons"]
        for reason, n in seen.items():
            assert reasons.get(reason, 0) >= n, (reason, reasons)
        print(f"rfid line: {counts}, rfid rejects {seen}, timing rejects {timing}, {station}")
        await rig.check_invariants()


def _copied(inlay: bytes, commissioned: set[str]) -> set[str]:
    """``rfid-duplicate`` if a wrong write put another commissioned unit's EPC in the tag."""
    try:
        written = decode(inlay)
    except (EpcEncodingError, ValueError):
        return set()
    return {"rfid-duplicate"} if written.serial in commissioned else set()
