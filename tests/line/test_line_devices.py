"""Devices from the configuration: one PLC, printer and camera or reader, connected in parallel."""

from __future__ import annotations

import socket

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
from tests.line.configs import line_config, tcp


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
