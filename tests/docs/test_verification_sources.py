"""docs/devices.md on the verification sources against the code: the simulated reader's defect
table, and the reader and seq-less camera sections, which the line must accept as written."""

from __future__ import annotations

import inspect
import re
import tomllib
from typing import Any

from drivers.camera.opencv_source import OpenCvCamera
from drivers.dmcc.client import DmccReader
from drivers.interfaces import SeqlessFrames
from linectl.line.devices import open_devices
from simulators.line import Defect
from simulators.smart_reader import IMAGE_DEFECTS
from tests.docs.markdown import DOCS, plain, tables_with_header
from tests.line.configs import line_config, tcp

PAGE = DOCS / "devices.md"


def test_the_simulated_reader_defect_table_is_the_simulators_model() -> None:
    (table,) = tables_with_header(PAGE, "pack at the camera", "result", "grade when read")
    documented: dict[str, tuple[str, str]] = {}
    for row in table.rows:
        what, result, grade = (plain(c) for c in row.cells)
        documented[what] = (result, grade)
    for defect, (no_read, grade) in IMAGE_DEFECTS.items():
        name = defect.value.replace("-", " ")
        assert name in documented, f"{PAGE.name}: no row for {name!r}"
        assert documented[name] == (f"no-read {no_read * 100:.0f} %", grade), name
    defects = {d.value.replace("-", " ") for d in Defect}
    listed = {w for w in documented if w in defects}
    assert listed == {d.value.replace("-", " ") for d in IMAGE_DEFECTS}, listed


def section(start: str, end: str) -> str:
    text = PAGE.read_text(encoding="utf-8")
    return text[text.index(start) : text.index(end, text.index(start))]


def line_with(devices: dict[str, Any]) -> Any:
    """The line's devices for ``devices`` plus a PLC and a printer."""
    devices = devices | {"plc": tcp("plc", "modbus", 502), "printer": tcp("printer", "zpl", 9100)}
    return open_devices(line_config(devices))


def test_the_documented_verification_reader_section_makes_a_line() -> None:
    text = section("## Smart code readers", "### How a read is paired")
    (block,) = re.findall(r"```toml\n(.*?)```", text, re.S)
    devices = tomllib.loads(block)["devices"]
    assert devices["reader"]["kind"] == "reader" and "role" not in devices["reader"]
    line = line_with(devices)
    assert line.camera is None and isinstance(line.reader, DmccReader)
    assert line.reader.read_timeout == devices["reader"]["timeout_s"]


def test_the_documented_seqless_camera_section_makes_a_paired_camera() -> None:
    text = section("### Pairing frames that carry no seq", "### `linectl decode`")
    (block,) = re.findall(r"```toml\n(.*?)```", text, re.S)
    devices = tomllib.loads(block)["devices"]
    line = line_with(devices)
    camera = line.camera
    assert isinstance(camera, OpenCvCamera) and isinstance(camera, SeqlessFrames)
    options = devices["camera"]["options"]
    assert camera.frame_delay_ms == (options["frame_delay_min_ms"], options["frame_delay_max_ms"])
    assert camera.frame_arrival_ms == options["frame_arrival_ms"]
    defaults = {
        name: param.default
        for name, param in inspect.signature(OpenCvCamera).parameters.items()
        if name in options
    }
    said = re.search(r"Defaults: ([-\d.]+), ([-\d.]+) and ([-\d.]+) ms", text)
    assert said is not None, "docs/devices.md: the defaults sentence is gone"
    assert [float(x) for x in said.groups()] == [
        defaults["frame_delay_min_ms"],
        defaults["frame_delay_max_ms"],
        defaults["frame_arrival_ms"],
    ]
