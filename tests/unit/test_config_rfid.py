"""The printer's RFID option: only a unit-label ZPL printer encodes tags; anything else is refused
with the key named."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest

from linectl.config import ConfigError, load_config

REPO = Path(__file__).resolve().parents[2]
DEMO = (REPO / "config" / "demo-line.toml").read_text()


def with_option(tmp_path: Path, device: str, option: str, **changes: str) -> Path:
    """The demo line with ``option`` added to ``[devices.<device>]``'s options."""
    text = DEMO
    for old, new in changes.items():
        text = text.replace(old, new, 1)
    text += f"\n[devices.{device}.options]\n{option}\n"
    path = tmp_path / "line.toml"
    path.write_text(text)
    return path


def test_a_zpl_printer_with_rfid_loads(tmp_path: Path) -> None:
    config = load_config(with_option(tmp_path, "printer", "rfid = true"))
    assert config.devices["printer"].options["rfid"] is True


def test_a_wsi_printer_with_rfid_is_refused_naming_the_key(tmp_path: Path) -> None:
    path = with_option(
        tmp_path, "printer", "rfid = true", **{'protocol = "zpl"\nhost': 'protocol = "wsi"\nhost'}
    )
    assert tomllib.loads(path.read_text())["devices"]["printer"]["protocol"] == "wsi"
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert any(
        p.startswith("devices.printer.options.rfid:") and "wsi" in p for p in info.value.problems
    ), info.value.problems


def test_rfid_must_be_true_or_false(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as info:
        load_config(with_option(tmp_path, "printer", 'rfid = "yes"'))
    assert any(p.startswith("devices.printer.options.rfid:") for p in info.value.problems)


def test_a_reader_with_rfid_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as info:
        load_config(with_option(tmp_path, "camera", "rfid = true"))
    assert any(p.startswith("devices.camera.options.rfid:") for p in info.value.problems)
