"""Case packing in the runtime: case-label devices from the configuration, the restart catch-up."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from drivers.dmcc.client import DmccReader
from drivers.zpl.client import ZplPrinter
from linectl.ledger import UnitResult, Verdict
from linectl.lifecycle import record_verdicts
from linectl.line.devices import DeviceSetupError, device_params, open_devices
from tests.aggregation.conftest import Line, make_line
from tests.line.configs import line_config, tcp

LABEL = {"role": "case-label"}


def config(devices: dict[str, dict[str, Any]], aggregation: bool = True) -> Any:
    line = {
        "plc": tcp("plc", "modbus", 502),
        "zebra": tcp("printer", "zpl", 9100),
        "cam": tcp("camera", "framepush", 7000),
    }
    if not aggregation:
        return line_config(line | devices)
    return line_config(line | devices, aggregation={"case_size": 12, "pallet_size": 10})


def test_case_label_devices_are_found_by_their_role_option() -> None:
    line = config(
        {
            "labeller": tcp("printer", "zpl", 9101, options=LABEL | {"connect_timeout": 1.5}),
            "scanner": tcp("reader", "dmcc", 2300, options=LABEL),
        }
    )
    devices = open_devices(line)
    assert isinstance(devices.case_printer, ZplPrinter) and devices.printer is not None
    assert isinstance(devices.case_reader, DmccReader)
    assert devices.names["case_printer"] == "labeller"
    assert devices.names["case_reader"] == "scanner" and devices.names["printer"] == "zebra"
    roles = [role for role, _, _ in devices.by_name()]
    assert roles == ["plc", "printer", "camera", "case_printer", "case_reader"]
    params = device_params("labeller", line.devices["labeller"])
    assert params.options == {"connect_timeout": 1.5}  # the role is the runtime's, not the driver's


def test_aggregation_needs_a_case_label_printer_and_reader() -> None:
    with pytest.raises(DeviceSetupError) as err:
        open_devices(config({"labeller": tcp("printer", "zpl", 9101, options=LABEL)}))
    assert "case-label reader" in str(err.value) and "found none" in str(err.value)
    assert "case-label printer" not in str(err.value)


def test_case_label_devices_without_aggregation_are_refused() -> None:
    devices = {
        "labeller": tcp("printer", "zpl", 9101, options=LABEL),
        "scanner": tcp("reader", "dmcc", 2300, options=LABEL),
    }
    with pytest.raises(DeviceSetupError, match=r"devices\.labeller, devices\.scanner: case-label"):
        open_devices(config(devices, aggregation=False))


def test_an_unknown_role_or_a_case_label_camera_is_refused_by_name() -> None:
    with pytest.raises(DeviceSetupError, match=r"devices\.x\.options\.role: unknown role 'pack'"):
        open_devices(config({"x": tcp("printer", "zpl", 9101, options={"role": "pack"})}))
    with pytest.raises(DeviceSetupError, match=r"devices\.c2: a case-label device is a printer"):
        open_devices(config({"c2": tcp("camera", "framepush", 7001, options=LABEL)}))


def commission(line: Line, seqs: range, verdict: Verdict = Verdict.GOOD) -> list[str]:
    taken = line.ledger.take_for_encoding(line.batch, len(seqs))
    reason = None if verdict is Verdict.GOOD else "no-read"
    units = [
        UnitResult(s, q, verdict, grade="A", reason=reason)
        for s, q in zip(taken, seqs, strict=True)
    ]
    record_verdicts(line.ledger, line.factory, units, clock=line.clock)
    return taken


def test_the_catch_up_packs_good_units_committed_after_the_last_one_packed(
    tmp_path: Path,
) -> None:
    line = make_line(tmp_path / "ledger.db", case_size=4)
    try:
        good = commission(line, range(100, 110))
        commission(line, range(110, 112), Verdict.REJECT)
        late = commission(line, range(112, 114))
        everything = list(zip(range(100, 110), good, strict=True)) + list(
            zip(range(112, 114), late, strict=True)
        )
        assert line.ledger.unpacked_after_last_case("B1") == everything

        closed = line.packer.add_units(good[:6])  # a full case, and 2 units in the next
        (case,) = closed
        line.rework.remove_unit(case.sscc, good[1], actor="qa", reason="damaged box")
        pending = line.ledger.unpacked_after_last_case("B1")
        # after seq 105 (the last packed); not the unit rework took out, nor the rejects
        assert pending == list(zip(range(106, 110), good[6:], strict=True)) + list(
            zip(range(112, 114), late, strict=True)
        )
    finally:
        line.ledger.close()
