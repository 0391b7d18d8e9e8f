"""Line configuration: one TOML file per line, validated with pydantic at start-up.

A bad file fails before anything runs, and the error lists every mistake with its field path and the
offending value, so an engineer fixes them all in one pass.
"""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

from pydantic import Field, ValidationError

from linectl.config.aggregation import AggregationSection
from linectl.config.hmi import HmiSection
from linectl.config.identity import IdentitySection
from linectl.config.line import (
    ControlSection,
    DeviceSection,
    LedgerSection,
    LineSection,
    Thresholds,
)
from linectl.config.section import Section
from linectl.config.upstream import UpstreamSection


class ConfigError(Exception):
    """The configuration file cannot be used; ``problems`` lists each mistake as one line."""

    def __init__(self, path: Path | str, problems: list[str]) -> None:
        self.path = str(path)
        self.problems = problems
        lines = "\n".join(f"  - {p}" for p in problems)
        super().__init__(f"{self.path}: {len(problems)} configuration error(s):\n{lines}")


class LineConfig(Section):
    """A whole line's configuration file."""

    line: LineSection
    ledger: LedgerSection
    thresholds: Thresholds = Thresholds()
    devices: dict[str, DeviceSection] = Field(default_factory=dict)
    control: ControlSection = ControlSection()
    hmi: HmiSection = HmiSection()
    identity: IdentitySection = IdentitySection()
    upstream: UpstreamSection | None = None  # no upstream: offline provisioning from files
    aggregation: AggregationSection | None = None  # no aggregation: units only
    simulation: dict[str, Any] = Field(default_factory=dict)  # read by the simulators only


def _format_loc(loc: tuple[int | str, ...]) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "(top level)"


def parse_config(data: dict[str, Any], source: Path | str = "<config>") -> LineConfig:
    """Validate an already-parsed TOML mapping; relative paths resolve against the file's folder."""
    try:
        config = LineConfig.model_validate(data)
    except ValidationError as exc:
        problems = []
        for err in exc.errors():
            where = _format_loc(tuple(err["loc"]))
            given = err.get("input")
            shown = "" if err["type"] == "missing" else f" (got {given!r})"
            problems.append(f"{where}: {err['msg']}{shown}")
        raise ConfigError(source, problems) from None
    base = Path(source).parent if source != "<config>" else Path.cwd()
    if not config.ledger.path.is_absolute():
        ledger = config.ledger.model_copy(update={"path": base / config.ledger.path})
        config = config.model_copy(update={"ledger": ledger})
    control = config.control
    relative = {
        name: base / path
        for name in ("unix_socket",)
        if (path := getattr(control, name)) is not None and not path.is_absolute()
    }
    if relative:
        config = config.model_copy(update={"control": control.model_copy(update=relative)})
    identity = config.identity
    paths = {
        name: base / path
        for name in ("audit_key_file", "session_dir")
        if (path := getattr(identity, name)) is not None and not path.is_absolute()
    }
    if paths:
        config = config.model_copy(update={"identity": identity.model_copy(update=paths)})
    hmi = config.hmi
    local = {
        name: base / path
        for name in ("cert_file", "key_file", "state_dir", "token_file")
        if (path := getattr(hmi, name)) is not None and not path.is_absolute()
    }
    return config.model_copy(update={"hmi": hmi.model_copy(update=local)})


def load_config(path: Path | str) -> LineConfig:
    """Read and validate a line configuration file."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(path, [f"cannot read the file: {exc.strerror}"]) from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(path, [f"not valid TOML: {exc}"]) from None
    return parse_config(data, path)
