"""Devices from the configuration: one PLC, printer and camera or reader, connected in parallel."""

from __future__ import annotations

import re
import socket
from typing import Any

import pytest

from drivers.camera.client import PushCamera
from drivers.dmcc.client import DmccReader
from drivers.keyence.client import KeyenceReader
from drivers.plc.modbus import ModbusPlc
from drivers.zpl.client import ZplPrinter
from linectl.config import ConfigError
from linectl.line.devices import (
    DeviceSetupError,
    DevicesUnavailable,
    build_devices,
    connect_all,
    device_params,
    open_devices,
)
from simulators.camera import CameraSimulator
from simulators.line import LineLayout, VirtualLine
from tests.line.configs import LINE, line_config, tcp


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
    return port


config = line_config


def test_the_config_names_the_drivers_by_role() -> None:
    devices = open_devices(
        config(
            {
                "line-plc": tcp("plc", "modbus", 502),
                "zebra": tcp("printer", "zpl", 9100, timeout_s=0.7),
                "cam": tcp("camera", "framepush", 7000),
            }
        )
    )
    assert isinstance(devices.plc, ModbusPlc)
    assert isinstance(devices.printer, ZplPrinter) and devices.printer.reply_timeout == 0.7
    assert isinstance(devices.camera, PushCamera)
    assert devices.names == {"plc": "line-plc", "printer": "zebra", "camera": "cam"}
    assert devices.protocols["printer"] == "zpl"


def test_a_line_needs_exactly_one_device_of_each_role() -> None:
    with pytest.raises(DeviceSetupError) as err:
        open_devices(
            config(
                {
                    "p1": tcp("printer", "zpl", 9100),
                    "p2": tcp("printer", "zpl", 9101),
                    "plc": tcp("plc", "modbus", 502),
                }
            )
        )
    message = str(err.value)
    assert "devices.p1, devices.p2" in message
    assert "one verification source" in message and "found none" in message


@pytest.mark.parametrize(("protocol", "driver"), [("dmcc", DmccReader), ("keyence", KeyenceReader)])
def test_a_smart_reader_verifies_in_place_of_a_camera(protocol: str, driver: type) -> None:
    devices = open_devices(
        config(
            {
                "plc": tcp("plc", "modbus", 502),
                "zebra": tcp("printer", "zpl", 9100),
                "dm": tcp("reader", protocol, 23, timeout_s=0.3),
            }
        )
    )
    assert devices.camera is None and isinstance(devices.reader, driver)
    assert devices.reader.read_timeout == 0.3
    assert devices.names == {"plc": "plc", "printer": "zebra", "reader": "dm"}
    assert [role for role, _, _ in devices.by_name()] == ["plc", "printer", "reader"]


def test_a_camera_and_a_reader_together_are_refused_naming_both() -> None:
    with pytest.raises(DeviceSetupError, match=r"verification source .* found devices\.cam, "
                       r"devices\.dm"):  # fmt: skip
        open_devices(
            config(
                {
                    "plc": tcp("plc", "modbus", 502),
                    "zebra": tcp("printer", "zpl", 9100),
                    "cam": tcp("camera", "framepush", 7000),
                    "dm": tcp("reader", "dmcc", 23),
                }
            )
        )


def test_device_params_carry_every_field() -> None:
    section = config({"z": tcp("printer", "zpl", 9100, options={"connect_timeout": 1.5})})
    params = device_params("z", section.devices["z"])
    assert (params.name, params.kind, params.protocol, params.port) == ("z", "printer", "zpl", 9100)
    assert params.options == {"connect_timeout": 1.5}


async def test_every_device_that_cannot_connect_is_named_in_one_error() -> None:
    camera = CameraSimulator(VirtualLine(LineLayout()))
    await camera.start()
    try:
        devices = open_devices(
            config(
                {
                    "plc": tcp("plc", "modbus", closed_port(), timeout_s=0.5),
                    "zebra": tcp("printer", "zpl", closed_port()),
                    "cam": tcp("camera", "framepush", camera.port),
                }
            )
        )
        with pytest.raises(DevicesUnavailable) as err:
            await connect_all(devices, within_s=5.0)
        assert set(err.value.failures) == {"plc", "zebra"}
        assert "2 device(s)" in str(err.value) and "zebra: printer:" in str(err.value)
        await devices.close()
        await devices.close()
    finally:
        await camera.close()


def test_an_option_value_a_driver_refuses_is_a_config_error_naming_the_device() -> None:
    cam = {"kind": "camera", "protocol": "opencv", "url": "frames/%04d.png",
           "options": {"frame_delay_min_ms": 50, "frame_delay_max_ms": 10}}  # fmt: skip
    devices = {"plc": tcp("plc", "modbus", 502), "zebra": tcp("printer", "zpl", 9100), "cam": cam}
    with pytest.raises(ConfigError, match=r"'cam': bad options: .*max_ms 10 is below"):
        build_devices(config(devices), "line.toml")


def rfid_line(printer: dict[str, Any] | None = None, **rfid: Any) -> dict[str, dict[str, Any]]:
    return {
        "plc": tcp("plc", "modbus", 502),
        "zebra": printer or tcp("printer", "zpl", 9100),
        "cam": tcp("camera", "framepush", 7000),
        "gate-antenna": {"kind": "rfid", "protocol": "llrp", "host": "127.0.0.1"} | rfid,
    }


def test_an_rfid_reader_without_an_encoding_printer_is_refused_naming_both() -> None:
    with pytest.raises(DeviceSetupError) as refused:
        open_devices(config(rfid_line()))
    message = str(refused.value)
    assert (
        "devices.gate-antenna: an RFID reader station checks the tag the printer encodes" in message
    )
    assert "set devices.zebra.options.rfid = true" in message


@pytest.mark.parametrize(
    ("options", "says"),
    [
        ({"min_rssi_dbm": "-70"}, "devices.gate-antenna.options.min_rssi_dbm: expected a number"),
        ({"min_rssi_dbm": 3}, "devices.gate-antenna.options.min_rssi_dbm: expected a number"),
        ({"antennas": [1, 0]}, "devices.gate-antenna.options.antennas: expected a list"),
        ({"antennas": 2}, "devices.gate-antenna.options.antennas: expected a list"),
    ],
)
def test_bad_rfid_station_options_are_named(options: dict[str, Any], says: str) -> None:
    with pytest.raises(DeviceSetupError, match=re.escape(says)):
        open_devices(config(rfid_line(options=options)))


def test_two_rfid_readers_are_refused_naming_both() -> None:
    devices = rfid_line()
    devices["second"] = {"kind": "rfid", "protocol": "llrp", "host": "127.0.0.1"}
    with pytest.raises(DeviceSetupError, match="at most one device with kind = 'rfid', found"):
        open_devices(config(devices))


def test_an_rfid_readers_port_defaults_to_llrps_and_its_runtime_option_stays_with_the_line() -> (
    None
):
    section = config(rfid_line(options={"min_rssi_dbm": -65, "inventory_ms": 20})).devices
    params = device_params("gate-antenna", section["gate-antenna"])
    assert params.port is None and params.options == {"inventory_ms": 20}  # port: 5084 by driver


def test_an_rfid_reader_beside_an_encoding_printer_is_the_lines_rfid_station() -> None:
    from drivers.llrp.client import LlrpReader

    printer = tcp("printer", "zpl", 9100, options={"rfid": True})
    options = {"min_rssi_dbm": -62, "antennas": [1, 2], "inventory_ms": 20, "read_tid": False}
    devices = open_devices(config(rfid_line(printer, options=options)))
    assert isinstance(devices.rfid, LlrpReader) and devices.min_rssi_dbm == -62
    assert devices.rfid.port == 5084 and devices.rfid.spec.antennas == (1, 2)
    assert devices.rfid.tid is None and devices.rfid.spec.duration_ms == 20
    assert ("rfid", "gate-antenna") in [(role, name) for role, name, _ in devices.by_name()]


@pytest.mark.parametrize(
    ("inventory_ms", "line", "says"),
    [
        (100, {}, "inventory_ms: 100 ms of inventory leave no time for the tag's verdict"),
        (80, {"target_packs_per_minute": 900}, "inventory_ms: 80 ms is not shorter than a pack's"),
    ],
)
def test_an_inventory_too_long_for_the_deadline_or_the_pitch_is_refused(
    inventory_ms: int, line: dict[str, Any], says: str
) -> None:
    printer = tcp("printer", "zpl", 9100, options={"rfid": True})
    options = {"inventory_ms": inventory_ms}
    deadline = 100.0 if inventory_ms == 100 else 200.0
    with pytest.raises(DeviceSetupError, match=re.escape(says)):
        open_devices(
            config(
                rfid_line(printer, options=options),
                line=LINE | line,
                thresholds={"verdict_deadline_ms": deadline},
            )
        )


def test_an_rfid_reader_with_the_default_inventory_fits_the_default_deadline() -> None:
    from drivers.llrp.client import LlrpReader

    printer = tcp("printer", "zpl", 9100, options={"rfid": True})
    devices = open_devices(config(rfid_line(printer, options={})))
    assert isinstance(devices.rfid, LlrpReader) and devices.rfid.spec.duration_ms == 40
