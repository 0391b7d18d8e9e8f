"""The registry turns a configuration's kind/protocol into the right driver, lazily."""

from __future__ import annotations

import subprocess
import sys

import pytest

from drivers.interfaces import Camera, CodeReader, Plc, Printer, TagReader
from drivers.registry import DRIVERS, DeviceParams, UnknownDriver, open_device

EXPECTED = {
    ("printer", "zpl"): ("ZplPrinter", Printer),
    ("printer", "wsi"): ("WsiPrinter", Printer),
    ("reader", "dmcc"): ("DmccReader", CodeReader),
    ("reader", "keyence"): ("KeyenceReader", CodeReader),
    ("rfid", "llrp"): ("LlrpReader", TagReader),
    ("camera", "framepush"): ("PushCamera", Camera),
    ("camera", "opencv"): ("OpenCvCamera", Camera),
    ("plc", "modbus"): ("ModbusPlc", Plc),
    ("plc", "opcua"): ("OpcUaPlc", Plc),
}


@pytest.mark.parametrize(("kind", "protocol"), sorted(EXPECTED))
def test_every_configured_protocol_opens_its_driver(kind: str, protocol: str) -> None:
    params = DeviceParams(
        name=f"{kind}-1", kind=kind, protocol=protocol, host="127.0.0.1", port=1, url="0"
    )
    device = open_device(params)
    class_name, interface = EXPECTED[(kind, protocol)]
    assert type(device).__name__ == class_name
    assert isinstance(device, interface)


def test_the_table_covers_exactly_the_documented_protocols() -> None:
    assert set(DRIVERS) == set(EXPECTED)


def test_unknown_protocol_names_the_device_and_the_known_ones() -> None:
    with pytest.raises(UnknownDriver, match=r"'cam-2'.*camera/gige.*known: camera/framepush"):
        open_device(DeviceParams(name="cam-2", kind="camera", protocol="gige"))


def test_missing_address_is_named() -> None:
    with pytest.raises(UnknownDriver, match=r"'printer-1'.*needs host"):
        open_device(DeviceParams(name="printer-1", kind="printer", protocol="zpl", port=9100))


def test_bad_option_is_named() -> None:
    params = DeviceParams(
        name="plc-1", kind="plc", protocol="modbus", host="h", port=502, options={"speed": 1}
    )
    with pytest.raises(UnknownDriver, match="'plc-1': bad options"):
        open_device(params)


def test_drivers_are_imported_only_when_opened() -> None:
    code = (
        "import sys, drivers.registry; "
        "assert 'asyncua' not in sys.modules and 'pymodbus' not in sys.modules, 'eager import'"
    )

    subprocess.run([sys.executable, "-c", code], check=True)
