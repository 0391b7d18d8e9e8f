"""The simulated line's geometry comes from its configuration, for the line and the harness."""

from __future__ import annotations

import pytest

from simulators.line import LineLayout, Station
from simulators.virtual_line import SimulatorConfigError, build_line, line_layout


def test_the_layout_runs_at_the_configured_speed_with_the_stations_of_the_virtual_line() -> None:
    layout = line_layout({"simulation": {"packs_per_minute": 3000}})
    assert layout.pitch_seconds == pytest.approx(0.02)
    assert [layout.position(s) for s in Station] == [0, 3, 6, 8]
    assert line_layout({}) == LineLayout(packs_per_minute=600.0)


def test_the_built_line_moves_on_the_layout_the_configuration_gives() -> None:
    data = {
        "simulation": {"packs_per_minute": 1500},
        "devices": {"plc": {"kind": "plc", "protocol": "modbus", "port": 0}},
    }
    assert build_line(data, ports_from_config=False).line.layout == line_layout(data)


def test_a_simulation_section_that_is_not_a_table_is_refused() -> None:
    with pytest.raises(SimulatorConfigError, match="simulation"):
        line_layout({"simulation": 5})
