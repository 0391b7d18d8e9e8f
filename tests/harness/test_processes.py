"""The harness writes the configurations the simulators and the daemon read, and reads ports."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest

from harness.processes import DemoError, DemoFiles, daemon_config, parse_ports, toml_text
from simulators.virtual_line import PLC_PORT, READY


def test_toml_text_round_trips_a_line_configuration() -> None:
    data = {
        "line": {"id": "demo", "name": 'quote " and backslash \\'},
        "thresholds": {"min_grade": "C", "verdict_deadline_ms": 150.0, "hold": True},
        "devices": {"plc": {"kind": "plc", "port": 5020, "options": {}}},
        "simulation": {"defects": {"no-print": 0.01}, "list": [1, 2]},
    }
    assert tomllib.loads(toml_text(data)) == data


def test_parse_ports_reads_the_simulators_ready_line() -> None:
    line = f"{READY} plc=5020 printer=9100 camera=19200 opcua=opc.tcp://x:1/p"
    assert parse_ports(line) == {"plc": 5020, "printer": 9100, "camera": 19200}


def test_the_daemon_config_points_every_device_at_the_port_its_simulator_bound(
    tmp_path: Path,
) -> None:
    sim = {
        "devices": {
            "line-plc": {"kind": "plc", "protocol": "modbus", "port": 0},
            "zebra": {"kind": "printer", "protocol": "zpl", "port": 0},
        },
        "thresholds": {"pool_low_water": 500},
    }
    ports = {PLC_PORT: 5021, "zebra": 9101}
    data = daemon_config(sim, ports, DemoFiles(tmp_path))
    assert data["devices"]["line-plc"]["port"] == 5021  # the PLC whatever its device name
    assert data["devices"]["zebra"]["port"] == 9101
    assert data["thresholds"]["pool_low_water"] == 20
    assert sim["devices"]["zebra"]["port"] == 0  # the simulators' configuration is left alone
    with pytest.raises(DemoError, match="zebra"):
        daemon_config(sim, {PLC_PORT: 5021}, DemoFiles(tmp_path))
