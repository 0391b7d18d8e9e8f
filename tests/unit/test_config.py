"""Line configuration: the demo file loads; a bad file lists every mistake with its field."""

from __future__ import annotations

from pathlib import Path

import pytest

from linectl.config import ConfigError, load_config

REPO = Path(__file__).resolve().parents[2]


def test_demo_line_configuration_loads() -> None:
    config = load_config(REPO / "config" / "demo-line.toml")
    assert config.line.company_prefix_length == 7
    assert config.devices["plc"].protocol == "modbus"
    assert config.ledger.path.is_absolute()


def test_a_file_with_three_mistakes_lists_all_three(tmp_path: Path) -> None:
    bad = tmp_path / "line.toml"
    bad.write_text(
        """
[line]
id = "line-1"
read_point = "urn:epc:id:sgln:4012345.00001.1"
biz_location = "somewhere"
company_prefix_length = 7
[ledger]
path = "ledger.db"
[thresholds]
min_grade = "G"
[devices.printer]
kind = "printer"
protocol = "dmcc"
host = "127.0.0.1"
port = 9100
"""
    )
    with pytest.raises(ConfigError) as info:
        load_config(bad)
    problems = info.value.problems
    assert len(problems) == 3, problems
    assert any(p.startswith("line.biz_location:") and "'somewhere'" in p for p in problems)
    assert any(p.startswith("thresholds.min_grade:") and "'G'" in p for p in problems)
    assert any(p.startswith("devices.printer:") and "'dmcc'" in p for p in problems)
    assert str(bad) in str(info.value)


def test_unknown_keys_are_refused_so_typos_are_caught(tmp_path: Path) -> None:
    bad = tmp_path / "line.toml"
    text = (REPO / "config" / "demo-line.toml").read_text()
    bad.write_text(text.replace("min_grade", "minimum_grade"))
    with pytest.raises(ConfigError) as info:
        load_config(bad)
    assert any("thresholds.minimum_grade" in p for p in info.value.problems)


def test_company_prefix_length_must_match_the_sgln(tmp_path: Path) -> None:
    bad = tmp_path / "line.toml"
    text = (REPO / "config" / "demo-line.toml").read_text()
    bad.write_text(text.replace("company_prefix_length = 7", "company_prefix_length = 9"))
    with pytest.raises(ConfigError) as info:
        load_config(bad)
    assert any("9" in p and "company prefix" in p for p in info.value.problems)


def test_toml_syntax_error_names_the_line(tmp_path: Path) -> None:
    bad = tmp_path / "line.toml"
    bad.write_text("[line]\nid = \n")
    with pytest.raises(ConfigError) as info:
        load_config(bad)
    assert "line 2" in str(info.value)


def test_missing_file_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read"):
        load_config(tmp_path / "nope.toml")


def test_loading_a_configuration_does_not_load_the_protocol_stacks() -> None:
    """The CLI reads the configuration for every command; asyncua and aiohttp cost a second."""
    import subprocess
    import sys

    code = (
        "import sys, linectl.config as c; c.load_config('config/demo-line.toml'); "
        "heavy = {'asyncua', 'aiohttp', 'pymodbus', 'cv2', 'zxingcpp'} & set(sys.modules); "
        "assert not heavy, heavy"
    )
    subprocess.run([sys.executable, "-c", code], check=True, cwd=REPO)
