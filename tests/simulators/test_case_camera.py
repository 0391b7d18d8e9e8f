"""The simulated case camera: a frame of each case as it lies, the packer's case faults in it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from drivers.camera.client import PushCamera
from drivers.camera.decode import DecodeOptions, decode_image, frame_array
from simulators.case_camera import CaseCameraSimulator
from simulators.case_packer import CaseFault, CasePacker
from simulators.line import LineLayout, Pack, VirtualLine
from simulators.virtual_line import SimulatorConfigError, build_line
from standards.gs1.elements import ProductCode, element_string
from standards.gs1.scan import parse_scan

GTIN = "09506000134352"


def code(serial: str, lot: str = "L1") -> str:
    return element_string(ProductCode(GTIN, "281130", lot, serial))


def feed(packer: CasePacker, seqs: range) -> None:
    for seq in seqs:
        packer.on_pack(Pack(seq, printed=code(f"S{seq:05d}"), rejected=False))


def test_case_faults_spoil_one_seeded_slot_and_the_log_says_which(tmp_path: Path) -> None:
    log = tmp_path / "cases.jsonl"
    packer = CasePacker(VirtualLine(LineLayout()), 4, 0, log_path=log, seed=3)
    packer.faults = {1: CaseFault.MISSING, 2: CaseFault.DUPLICATE, 3: CaseFault.OTHER_BATCH}
    packer.foreign = code("OLD1", "L0")
    feed(packer, range(1, 17))
    packer.close()
    one, two, three, four = packer.cases
    assert one.slots.count(None) == 1 and set(one.slots) - {None} < set(one.codes)
    assert len(set(two.slots)) == 3 and set(two.slots) < set(two.codes)
    assert packer.foreign in three.slots and len(set(three.slots) & set(three.codes)) == 3
    assert four.fault is None and four.slots == four.codes
    assert all(c.codes == [code(f"S{s:05d}") for s in c.seqs] for c in packer.cases)  # line order
    lines = [json.loads(line) for line in log.read_text().splitlines()]
    assert [(e["case"], e.get("fault")) for e in lines] == [
        (1, "missing"), (2, "duplicate"), (3, "other-batch"), (4, None)
    ]  # fmt: skip
    again = CasePacker(VirtualLine(LineLayout()), 4, 0, seed=3)
    again.faults, again.foreign = dict(packer.faults), packer.foreign
    feed(again, range(1, 17))
    assert [c.slots for c in again.cases] == [c.slots for c in packer.cases]  # seeded


def test_an_other_batch_fault_needs_a_foreign_code() -> None:
    packer = CasePacker(VirtualLine(LineLayout()), 2, 0)
    packer.faults = {1: CaseFault.OTHER_BATCH}
    with pytest.raises(ValueError, match=r"packer\.foreign"):
        feed(packer, range(1, 3))


async def test_the_case_camera_pushes_what_lies_in_each_case_tagged_with_its_last_pack() -> None:
    packer = CasePacker(VirtualLine(LineLayout()), 4, 0, seed=1)
    packer.faults = {2: CaseFault.MISSING}
    camera = CaseCameraSimulator(packer, seed=1)
    await camera.start()
    host = PushCamera("127.0.0.1", camera.port, name="case camera")
    try:
        await host.connect()
        await camera.wait_client()
        feed(packer, range(1, 9))
        frames = host.frames()
        got = [await anext(frames), await anext(frames)]
        await frames.aclose()
    finally:
        await host.close()
        await camera.close()
    assert [f.seq for f in got] == [4, 8]
    options = DecodeOptions(all_symbols=True, grade=False)
    seen = [
        {parse_scan(s.symbology_identifier + s.text).serial
         for s in decode_image(frame_array(f), options).symbols}
        for f in got
    ]  # fmt: skip
    first, second = packer.cases
    assert seen[0] == {f"S{seq:05d}" for seq in first.seqs}
    assert seen[1] == {f"S{seq:05d}" for seq, c in zip(second.seqs, second.slots, strict=True) if c}
    assert len(seen[1]) == 3 and camera.cases[2].codes == tuple(second.slots)


def test_the_simulated_line_builds_a_case_camera_with_its_faults() -> None:
    devices = {
        "plc": {"kind": "plc", "protocol": "modbus", "port": 1502},
        "labeller": {"kind": "printer", "protocol": "zpl", "port": 9101,
                     "options": {"role": "case-label"}},
        "tunnel": {"kind": "camera", "protocol": "framepush", "port": 7001,
                   "options": {"role": "case-camera"}},
    }  # fmt: skip
    sim = {"case_faults": {"2": "missing", "5": "other-batch"}, "case_foreign_code": code("X")}
    built = build_line({"devices": devices, "simulation": sim}, ports_from_config=False)
    assert isinstance(built.devices["tunnel"], CaseCameraSimulator)
    assert built.packer is not None and built.packer.foreign == code("X")
    assert built.packer.faults == {2: CaseFault.MISSING, 5: CaseFault.OTHER_BATCH}
    with pytest.raises(SimulatorConfigError, match=r"case_faults\.3: unknown fault 'crushed'"):
        build_line({"devices": devices, "simulation": {"case_faults": {"3": "crushed"}}},
                   ports_from_config=False)  # fmt: skip
    with pytest.raises(SimulatorConfigError, match=r"needs simulation\.case_foreign_code"):
        build_line({"devices": devices, "simulation": {"case_faults": {"3": "other-batch"}}},
                   ports_from_config=False)  # fmt: skip
