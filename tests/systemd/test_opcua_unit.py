"""systemd/linectl-opcua.service: accepted by systemd-analyze, hardened at least like the daemon's
unit (exposure 2.5 or lower), its own transient user, no devices, no capabilities."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from tests.systemd.test_unit import (
    INSTALLED_BINARY,
    MAX_EXPOSURE,
    REPO,
    analyze,
    directives,
    exposure,
    pytestmark,  # noqa: F401  (skipped without systemd-analyze, like the daemon's unit)
)

UNIT = REPO / "systemd" / "linectl-opcua.service"


@pytest.fixture
def runnable_copy(tmp_path: Path) -> Path:
    binary = Path(sys.executable).parent / "linectl"
    text = UNIT.read_text(encoding="utf-8")
    assert text.count(INSTALLED_BINARY) == 1
    copy = tmp_path / "linectl-opcua.service"
    copy.write_text(text.replace(INSTALLED_BINARY, str(binary)), encoding="utf-8")
    return copy


def test_systemd_analyze_verify_accepts_the_opcua_unit(runnable_copy: Path) -> None:
    result = analyze("verify", "--no-pager", str(runnable_copy))
    assert result.returncode == 0, result.stderr
    assert [line for line in result.stderr.splitlines() if "linectl-opcua.service" in line] == []


def test_the_opcua_unit_scores_at_most_the_daemons_bar(runnable_copy: Path) -> None:
    score = exposure(runnable_copy)
    print(f"systemd-analyze security exposure of the OPC UA unit: {score}")
    assert score <= MAX_EXPOSURE


def test_the_opcua_server_runs_as_its_own_user_without_devices_or_capabilities() -> None:
    d = directives(UNIT.read_text(encoding="utf-8"))
    assert d["ExecStart"] == [f"{INSTALLED_BINARY} opcua --config /etc/linectl/line.toml"]
    assert d["DynamicUser"] == ["yes"] and d["User"] == ["linectl-opcua"]
    assert d["StateDirectory"] == ["linectl-opcua"]
    assert d["CapabilityBoundingSet"] == [""] and d["PrivateDevices"] == ["yes"]
    assert d["ProtectSystem"] == ["strict"] and d["NoNewPrivileges"] == ["yes"]
