"""The standalone central simulator's options map onto its configuration."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest

from simulators.central import add_arguments, config_from_args
from simulators.central.faults import FaultError


def _parse(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    return parser.parse_args(list(argv))


def test_options_override_the_defaults(tmp_path: Path) -> None:
    args = _parse(
        "--db",
        str(tmp_path / "x.db"),
        "--epcis-port",
        "0",
        "--capture-limit",
        "25",
        "--error-rate",
        "0.1",
        "--seed",
        "7",
        "--epcis-down",
    )
    config = config_from_args(args)
    assert config.db_path == tmp_path / "x.db" and config.epcis_port == 0
    assert config.capture_limit == 25
    assert config.faults.error_rate == 0.1 and config.faults.seed == 7
    assert config.faults.epcis_down is True
    assert config.nodeset.name == "Opc.Ua.OPENSCS.NodeSet2.xml"


def test_a_config_file_is_read_and_options_win(tmp_path: Path) -> None:
    path = tmp_path / "central.toml"
    path.write_text("[epcis]\ncapture_limit = 80\nport = 9999\n[faults]\ndelay_s = 0.5\n")
    config = config_from_args(_parse("--config", str(path), "--capture-limit", "20"))
    assert config.capture_limit == 20 and config.epcis_port == 9999
    assert config.faults.delay_s == 0.5


def test_a_nonsense_fault_option_is_refused() -> None:
    with pytest.raises(FaultError, match="error_rate"):
        config_from_args(_parse("--error-rate", "3"))
