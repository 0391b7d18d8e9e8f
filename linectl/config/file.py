"""Line configuration: one TOML file per line, validated with pydantic at start-up.

A bad file fails before anything runs, and the error lists every mistake with its field path and the
offending value, so an engineer fixes them all in one pass.
"""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

from pydantic import Field, ValidationError, field_validator, model_validator

from drivers.zpl.layout import LabelLayouts
from linectl.config.aggregation import AggregationSection
from linectl.config.hmi import HmiSection
from linectl.config.identity import IdentitySection
from linectl.config.labels import LabelLayoutSection, check_layouts, label_layouts, merge_shipped
from linectl.config.line import (
    ControlSection,
    DeviceSection,
    LedgerSection,
    LineSection,
    Thresholds,
)
from linectl.config.opcua import OpcuaSection
from linectl.config.section import FieldError, Section
from linectl.config.upstream import UpstreamSection
from linectl.config.wsi import check_wsi_options


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
    opcua: OpcuaSection = OpcuaSection()
    identity: IdentitySection = IdentitySection()
    upstream: UpstreamSection | None = None  # no upstream: offline provisioning from files
    aggregation: AggregationSection | None = None  # no aggregation: units only
    labels: dict[str, LabelLayoutSection] = Field(default_factory=dict, validate_default=True)
    """The ZPL label layouts: the shipped ones with this line's ``[labels.NAME]`` merged in."""
    simulation: dict[str, Any] = Field(default_factory=dict)  # read by the simulators only

    @field_validator("labels", mode="before")
    @classmethod
    def _shipped_labels(cls, value: object) -> object:
        return merge_shipped(value)

    @model_validator(mode="after")
    def _labels_fit(self) -> LineConfig:
        check_layouts(self.labels, self.line.code_profiles(), self.line.digital_link_domain)
        for name, device in self.devices.items():
            if device.protocol == "wsi":
                check_wsi_options(f"devices.{name}.options", device.options)
            if "rfid" in device.options:
                check_rfid_option(name, device.kind, device.protocol, device.options)
            if device.protocol == "zpl" and "layouts" in device.options:
                raise FieldError(
                    f"devices.{name}.options.layouts",
                    "a ZPL printer's layouts come from [labels] (docs/labels.md); "
                    "change them there",
                )
        return self

    def label_layouts(self) -> LabelLayouts:
        """The ZPL printers' layouts (unit, unit-digital-link, case, pallet) for this line."""
        return label_layouts(self.labels)

    @model_validator(mode="after")
    def _profiles_fit_the_printer(self) -> LineConfig:
        """A profile's text lines must fit a WSI printer's text fields (three unless its
        ``hri_fields`` option names others); ZPL labels take any number."""
        for name, device in self.devices.items():
            if device.protocol != "wsi" or device.options.get("role"):
                continue
            fields = device.options.get("hri_fields", ("HRI1", "HRI2", "HRI3"))
            for profile_name, profile in self.line.code_profiles().items():
                if len(profile.hri) > len(fields):
                    raise ValueError(
                        f"line.profiles.{profile_name}.hri: {len(profile.hri)} lines, but the WSI "
                        f"printer devices.{name} has {len(fields)} text fields"
                    )
        return self


def check_rfid_option(name: str, kind: str, protocol: str, options: dict[str, Any]) -> None:
    """``options.rfid``: true or false, and only on a unit-label ZPL printer (RFID encoding)."""
    where = f"devices.{name}.options.rfid"
    if not isinstance(options["rfid"], bool):
        raise FieldError(where, f"true or false, not {options['rfid']!r}")
    if kind != "printer" or protocol != "zpl":
        raise FieldError(
            where, f"only a ZPL printer with an RFID encoder encodes tags, not a {kind}/{protocol}"
        )
    if options["rfid"] and options.get("role"):
        raise FieldError(where, "a case-label printer does not encode tags (unit labels only)")


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
            cause = err.get("ctx", {}).get("error")
            if isinstance(cause, FieldError):  # the key below the model that raised it
                where = cause.key if where == "(top level)" else f"{where}.{cause.key}"
                problems.append(f"{where}: {cause.message}")
                continue
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
    config = config.model_copy(update={"hmi": hmi.model_copy(update=local)})
    opcua = config.opcua
    local = {
        name: base / path
        for name in ("nodeset", "state_dir", "cert_file", "key_file", "token_file")
        if (path := getattr(opcua, name)) is not None and not path.is_absolute()
    }
    return config.model_copy(update={"opcua": opcua.model_copy(update=local)})


MAX_CONFIG_BYTES = 1_000_000
"""A line configuration is a few kilobytes; anything past this is the wrong file."""

MAX_NESTING = 32
"""Tables and arrays nested deeper than this are refused (a real configuration uses 4)."""


def load_config(path: Path | str) -> LineConfig:
    """Read and validate a line configuration file (UTF-8, with or without a BOM)."""
    path = Path(path)
    data = _parse(path, read_config_text(path))
    return parse_config(data, path)


def read_config_text(path: Path) -> str:
    """The file's text: UTF-8 (a leading BOM is dropped); UTF-16 and huge files are refused."""
    try:
        with open(path, "rb") as file:
            raw = file.read(MAX_CONFIG_BYTES + 1)
    except IsADirectoryError:
        raise ConfigError(path, ["is a directory, not a configuration file"]) from None
    except OSError as exc:
        raise ConfigError(path, [f"cannot read the file: {exc.strerror}"]) from None
    if len(raw) > MAX_CONFIG_BYTES:
        raise ConfigError(path, [f"larger than {MAX_CONFIG_BYTES:,} bytes: not a configuration"])
    raw = raw.removeprefix(b"\xef\xbb\xbf")
    if raw[:2] in (b"\xff\xfe", b"\xfe\xff") or b"\x00" in raw:
        raise ConfigError(path, ["the file is UTF-16 (or binary): save it as UTF-8"])
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw.count(b"\n", 0, exc.start) + 1
        raise ConfigError(
            path, [f"line {line}: byte {raw[exc.start]:#04x} is not UTF-8: save the file as UTF-8"]
        ) from None


def _parse(path: Path, text: str) -> dict[str, Any]:
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(path, [f"not valid TOML: {exc}"]) from None
    except RecursionError:
        raise ConfigError(
            path, [f"arrays or inline tables nested too deeply (more than {MAX_NESTING} levels)"]
        ) from None
    deep = _too_deep(data)
    if deep is not None:
        raise ConfigError(path, [f"{deep}: nested more than {MAX_NESTING} levels deep"])
    return data


def _too_deep(data: dict[str, Any]) -> str | None:
    """The first key path nested deeper than MAX_NESTING, shortened; None when all are within."""
    stack: list[tuple[Any, tuple[str, ...]]] = [(data, ())]
    while stack:
        value, where = stack.pop()
        if len(where) > MAX_NESTING:
            shown = ".".join(where[:3])
            return f"{shown}... ({len(where)}+ levels)"
        if isinstance(value, dict):
            stack.extend((v, (*where, str(k)[:20])) for k, v in value.items())
        elif isinstance(value, list):
            stack.extend((v, (*where, f"[{i}]")) for i, v in enumerate(value))
    return None
