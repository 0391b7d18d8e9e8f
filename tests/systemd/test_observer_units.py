"""systemd/linectl-hmi.service and linectl-opcua.service, the units of the processes beside the
daemon: each accepted by systemd-analyze, hardened at least like the daemon's unit (exposure 2.5
or lower), its own transient user, no devices, no capabilities."""

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

COMMANDS = ("hmi", "opcua")


def unit_of(command: str) -> Path:
    return REPO / "systemd" / f"linectl-{command}.service"


@pytest.fixture(params=COMMANDS)
def runnable_copy(request: pytest.FixtureRequest, tmp_path: Path) -> Path:
    unit = unit_of(request.param)
    binary = Path(sys.executable).parent / "linectl"
    text = unit.read_text(encoding="utf-8")
    assert text.count(INSTALLED_BINARY) == 1
    copy = tmp_path / unit.name
    copy.write_text(text.replace(INSTALLED_BINARY, str(binary)), encoding="utf-8")
    return copy


def test_systemd_analyze_verify_accepts_the_unit(runnable_copy: Path) -> None:
    result = analyze("verify", "--no-pager", str(runnable_copy))
    assert result.returncode == 0, result.stderr
    assert [line for line in result.stderr.splitlines() if runnable_copy.name in line] == []


def test_the_unit_scores_at_most_the_daemons_bar(runnable_copy: Path) -> None:
    score = exposure(runnable_copy)
    print(f"systemd-analyze security exposure of {runnable_copy.name}: {score}")
    assert score <= MAX_EXPOSURE


@pytest.mark.parametrize("command", COMMANDS)
def test_the_process_runs_as_its_own_user_without_devices_or_capabilities(command: str) -> None:
    d = directives(unit_of(command).read_text(encoding="utf-8"))
    assert d["ExecStart"] == [f"{INSTALLED_BINARY} {command} --config /etc/linectl/line.toml"]
    assert d["DynamicUser"] == ["yes"] and d["User"] == [f"linectl-{command}"]
    assert d["StateDirectory"] == [f"linectl-{command}"]
    assert d["CapabilityBoundingSet"] == [""] and d["PrivateDevices"] == ["yes"]
    assert d["ProtectSystem"] == ["strict"] and d["NoNewPrivileges"] == ["yes"]
