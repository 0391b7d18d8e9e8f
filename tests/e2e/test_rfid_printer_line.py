"""A batch on a line whose ZPL printer encodes each unit's EPC into its label's RFID tag
(``[devices.printer.options] rfid = true``), with encode failures forced and seeded: every void
label is rejected ``rfid-encode``, nothing is accepted whose tag does not hold its EPC.

No reader station here: this checks the printer path alone (the printer's own read-back). Faults
the printer cannot see (wrong write, weak tag) are the reader station's to catch and are not
injected. Ground truth is compared pack by pack.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from linectl.ledger import Ledger
from linectl.line.control import Command
from linectl.line.printing import encodes_rfid
from simulators.line import PRINT_DEFECTS, Defect
from simulators.plc import PlcSimulator
from simulators.printer_zpl import ZplPrinterSimulator
from simulators.rfid_inlay import InlayFault, InlayFaults
from standards.epc.binary import sgtin_epc
from standards.packml import PackMLState
from tests.e2e.ground_truth import check_ground_truth
from tests.e2e.rig import BATCH, GTIN, ScriptedFaults, line_rig

pytestmark = pytest.mark.e2e

PACKS = 160
VOID = {9, 23, 38, 52, 67, 81, 96, 110, 125, 140}
"""Packs whose label the printer fails to encode (forced); more come from the seeded rate."""
PRINT_FAULTS = {23: Defect.NO_PRINT, 52: Defect.WRONG_CONTENT, 74: Defect.NO_PRINT}
"""Print defects, two on void labels: the printed code's reason comes first."""
TIMING = {"late", "no-print-confirmation"}
"""What a starved 2-core box may make of a clean pack (fail-safe rejects), at most a few."""


async def test_every_void_label_is_rejected_rfid_encode_and_no_blank_tag_passes(
    tmp_path: Path,
) -> None:
    async def prepare(ledger: Ledger, plc: PlcSimulator, printer: ZplPrinterSimulator) -> None:
        printer.engine.inlays = InlayFaults(
            seed=7,
            rates={InlayFault.ENCODE_FAILURE: 0.02},
            forced=dict.fromkeys(VOID, InlayFault.ENCODE_FAILURE),
        )

    faults = ScriptedFaults(seed=3, forced=PRINT_FAULTS)
    async with line_rig(
        tmp_path, packs=PACKS, pool=PACKS + 40, packs_per_minute=900, faults=faults,
        printer_options={"rfid": True}, prepare=prepare,
    ) as rig:  # fmt: skip
        assert rig.devices is not None and encodes_rfid(rig.devices.printer)
        await rig.rt.command(Command.START, user="alice", reason="rfid labels")
        await rig.wait_state(PackMLState.COMPLETE)
        await rig.rt.line_end_done()

        counts = check_ground_truth(rig)  # no false accept of the printed code, print reasons
        assert counts["packs"] == PACKS and counts["unserialised"] == 0
        units = rig.units()
        log = {r.seq: r for r in rig.printer.engine.log}
        voided = {seq for seq, r in log.items() if r.inlay_fault == "encode-failure"}
        assert voided >= VOID and len(voided) > len(VOID)  # the seeded rate added some
        clean_rejects: dict[int, str | None] = {}
        for seq, pack in sorted(rig.line.history.items()):
            serial, verdict, reason = units[seq]
            epc = sgtin_epc(GTIN, serial, 7).hex
            assert log[seq].epc == epc, f"pack {seq}: the printer was sent {log[seq].epc}"
            if verdict == "good":  # 0 false accepts: the tag holds exactly the unit's EPC
                assert pack.inlay == bytes.fromhex(epc), f"FALSE ACCEPT pack {seq}: {pack.inlay!r}"
                assert seq not in voided
                continue
            if pack.defect in PRINT_DEFECTS:
                assert reason == pack.defect.value, (seq, pack.defect, reason)
            elif seq in voided:
                assert reason == "rfid-encode", (seq, reason)
                assert pack.inlay is None and pack.printed == pack.intended
            else:
                clean_rejects[seq] = reason
                assert reason in TIMING, f"FALSE REJECT pack {seq}: {reason}"
        assert len(clean_rejects) <= 3, clean_rejects

        rfid_rejects = {s for s, u in units.items() if u[2] == "rfid-encode"}
        assert rfid_rejects == voided - set(PRINT_FAULTS)
        reasons = rig.ledger.reject_counts(BATCH)
        assert reasons["rfid-encode"] == len(rfid_rejects)
        assert rig.rt.status()["reject_reasons"]["rfid-encode"] == len(rfid_rejects)
        closed = await rig.rt.command(Command.CLOSE_BATCH, user="alice", reason="done")
        rec = closed["result"]["reconciliation"]
        assert rec["balanced"] and rec["in_process"] == 0
        assert rec["commissioned"] == counts["good"]
        # every scrapped serial under its reason: the packs rejected, and the write-aheads
        # cancelled at the end of the batch (never printed)
        assert rec["scrapped"] == sum(reasons.values())
        not_packs = reasons.get("cancelled", 0) + reasons.get("line-stopped", 0)
        assert sum(reasons.values()) - not_packs == counts["reject"]
        await rig.check_invariants()
        print(f"rfid printer line: {counts}, {len(voided)} void labels, rejects {reasons}")
