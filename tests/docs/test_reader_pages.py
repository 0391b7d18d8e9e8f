"""docs/devices.md on smart readers against the code: the simulated reader's defect table, and
the verification-reader section that the line must accept as written."""

from __future__ import annotations

import re
import tomllib

from drivers.dmcc.client import DmccReader
from linectl.config import parse_config
from linectl.line.devices import open_devices
from simulators.line import Defect
from simulators.smart_reader import IMAGE_DEFECTS
from tests.docs.markdown import DOCS, plain, tables_with_header

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


def test_the_documented_verification_reader_section_makes_a_line() -> None:
    text = PAGE.read_text(encoding="utf-8")
    section = text[text.index("## Smart code readers") : text.index("### How a read is paired")]
    (block,) = re.findall(r"```toml\n(.*?)```", section, re.S)
    devices = tomllib.loads(block)["devices"]
    assert devices["reader"]["kind"] == "reader" and "role" not in devices["reader"]
    devices |= {
        "plc": {"kind": "plc", "protocol": "modbus", "host": "127.0.0.1", "port": 502},
        "printer": {"kind": "printer", "protocol": "zpl", "host": "127.0.0.1", "port": 9100},
    }
    config = parse_config(
        {
            "line": {
                "id": "t",
                "read_point": "urn:epc:id:sgln:0950600.01343.1",
                "biz_location": "urn:epc:id:sgln:0950600.01343.0",
                "company_prefix_length": 7,
            },
            "ledger": {"path": "/tmp/unused.db"},
            "devices": devices,
        }
    )
    line = open_devices(config)
    assert line.camera is None and isinstance(line.reader, DmccReader)
    assert line.reader.read_timeout == devices["reader"]["timeout_s"]
