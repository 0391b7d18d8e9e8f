"""German- and US-profile batches on the simulated line: the codes the camera saw, decoded by an
independent decoder (``dmtxread`` from Debian's dmtx-utils, installed by ``.ci/run``), carry exactly
the profile's AIs in its order and values; a code the printer marked without a field of the
profile (the PZN, the expiry) is rejected as wrong-content and nothing else is."""

from __future__ import annotations

import asyncio
import shutil
from pathlib import Path

import cv2
import pytest

from linectl.ledger import WorkOrderCode
from linectl.line.control import Command
from standards.gs1.ai import GS
from standards.gs1.scan import parse_scan
from standards.packml import PackMLState
from tests.e2e.ground_truth import check_ground_truth
from tests.e2e.rig import EXPIRY, GTIN, LOT, Rig, line_rig

PZN = "12345678"
PACKS = 60
SPOILT = frozenset({20, 22, 24, 31, 40})  # packs marked without a field of the profile (apart,
# so the line never sees the 5 rejects in a row that hold it)


def dmtxread() -> str:
    path = shutil.which("dmtxread")
    if path is None:
        pytest.fail("dmtxread is missing: .ci/run installs Debian's dmtx-utils (apt-get install)")
    return path


async def decode_frames(rig: Rig, folder: Path) -> dict[int, str]:
    """seq -> what dmtxread reads in the frame the camera simulator sent for that pack (the
    renderer is seeded per pack, so it draws the very frame again). FNC1 shows as GS."""
    await asyncio.to_thread(folder.mkdir)
    found: dict[int, str] = {}
    for seq, pack in sorted(rig.line.history.items()):
        image, truth = rig.camera.renderer.render(seq, pack.printed, pack.defect, pack.text)
        assert truth.printed == pack.printed
        frame = folder / f"{seq}.png"
        await asyncio.to_thread(cv2.imwrite, str(frame), image)
        proc = await asyncio.create_subprocess_exec(
            dmtxread(), "--gs1=29", "--stop-after=1", str(frame),
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        )  # fmt: skip
        out, err = await proc.communicate()
        assert proc.returncode == 0, f"dmtxread found no code in pack {seq}: {err.decode()}"
        found[seq] = out.decode("ascii")
    return found


async def run_batch(rig: Rig) -> None:
    await rig.rt.command(Command.START, user="alice", reason="market profile batch")
    await rig.wait_state(PackMLState.COMPLETE)
    await rig.rt.line_end_done()


def judged(rig: Rig) -> dict[int, tuple[str, str, str | None]]:
    counts = check_ground_truth(rig)  # no false accept, the PLC and the ledger agree
    assert counts["packs"] == PACKS
    return rig.units()


async def test_a_german_batch_marks_the_pzn_and_a_code_without_it_is_rejected(
    tmp_path: Path,
) -> None:
    async def spoil(ledger: object, plc: object, printer: object) -> None:
        rig_printer = printer  # the ZPL printer simulator: its template loses AI 710 for a while
        rig_printer.engine.drop_fields(frozenset({"710"}), SPOILT)  # type: ignore[attr-defined]

    code = WorkOrderCode("de-pzn", {"710": PZN})
    async with line_rig(tmp_path, packs=PACKS, pool=80, code=code, prepare=spoil) as rig:
        await run_batch(rig)
        units = judged(rig)
        decoded = await decode_frames(rig, tmp_path / "frames")
    for seq in range(1, PACKS + 1):
        serial, verdict, reason = units[seq]
        text = decoded[seq]
        assert text.startswith(GS), f"pack {seq}: not GS1 (no FNC1 first): {text!r}"
        scan = parse_scan("]d2" + text[1:])
        want = {"01": GTIN, "17": EXPIRY, "10": LOT, "21": serial, "710": PZN}
        if seq in SPOILT:
            del want["710"]
            assert (verdict, reason) == ("reject", "wrong-content"), seq
        else:
            assert (verdict, reason) == ("good", None), (seq, reason)
        assert list(scan.ai.items()) == list(want.items()), f"pack {seq}: {dict(scan.ai)}"
        pack = rig.line.history[seq]
        assert pack.text == (f"PZN: {PZN}", f"SN: {serial}", f"Ch.-B.: {LOT} Verw. bis: {EXPIRY}")


async def test_a_us_batch_marks_a_digital_link_with_exactly_the_dscsa_fields(
    tmp_path: Path,
) -> None:
    async def spoil(ledger: object, plc: object, printer: object) -> None:
        printer.engine.drop_fields(frozenset({"17"}), SPOILT)  # type: ignore[attr-defined]

    code = WorkOrderCode("us-dscsa-dl")
    async with line_rig(tmp_path, packs=PACKS, pool=80, code=code, prepare=spoil) as rig:
        await run_batch(rig)
        units = judged(rig)
        decoded = await decode_frames(rig, tmp_path / "frames")
    for seq in range(1, PACKS + 1):
        serial, verdict, reason = units[seq]
        uri = decoded[seq]
        assert uri.startswith(f"https://id.gs1.org/01/{GTIN}/10/{LOT}/21/{serial}"), uri
        want = {"01": GTIN, "10": LOT, "21": serial, "17": EXPIRY}
        if seq in SPOILT:
            del want["17"]
            assert (verdict, reason) == ("reject", "wrong-content"), seq
        else:
            assert (verdict, reason) == ("good", None), (seq, reason)
        assert dict(parse_scan(uri).ai) == want, f"pack {seq}: {uri}"
