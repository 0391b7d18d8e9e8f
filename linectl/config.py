"""Line configuration: one TOML file per line, validated with pydantic at start-up.

A bad file fails before anything runs, and the error lists every mistake with its field path and the
offending value, so an engineer fixes them all in one pass.
"""

from __future__ import annotations

import enum
import re
import tomllib
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from linectl.aggregation.settings import AggregationSection
from linectl.upstream.config import UpstreamSection
from standards.gs1.epc import IdentifierForm

_SGLN_URN = re.compile(r"^urn:epc:id:sgln:(\d{6,12})\.(\d{0,6})\.([!-~]{1,20})$")
_SGLN_DL = re.compile(r"^https?://[^/]+(/.*)?/414/(\d{13})(/254/[!-~]{1,20})?$")


class ConfigError(Exception):
    """The configuration file cannot be used; ``problems`` lists each mistake as one line."""

    def __init__(self, path: Path | str, problems: list[str]) -> None:
        self.path = str(path)
        self.problems = problems
        lines = "\n".join(f"  - {p}" for p in problems)
        super().__init__(f"{self.path}: {len(problems)} configuration error(s):\n{lines}")


class CodeForm(enum.StrEnum):
    """What is encoded in the printed code."""

    ELEMENT_STRING_DATAMATRIX = "element-string-datamatrix"
    DIGITAL_LINK_DATAMATRIX = "digital-link-datamatrix"
    DIGITAL_LINK_QR = "digital-link-qr"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class LineSection(_Strict):
    """Who this line is, for readPoint / bizLocation and the identifiers it issues."""

    id: Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9._-]+$")]
    name: str = ""
    read_point: str
    biz_location: str
    company_prefix_length: Annotated[int, Field(ge=6, le=12)]
    identifier_form: IdentifierForm = IdentifierForm.EPC_URN
    code_form: CodeForm = CodeForm.ELEMENT_STRING_DATAMATRIX
    digital_link_domain: Annotated[str, Field(pattern=r"^https://[A-Za-z0-9.-]+(:\d+)?$")] = (
        "https://id.gs1.org"
    )
    timezone_offset: Annotated[str, Field(pattern=r"^[+-](0\d|1[0-4]):[0-5]\d$")] = "+00:00"

    @field_validator("read_point", "biz_location")
    @classmethod
    def _is_sgln(cls, value: str) -> str:
        if _SGLN_URN.match(value) or _SGLN_DL.match(value):
            return value
        raise ValueError(
            "must be an SGLN as EPC URN (urn:epc:id:sgln:0614141.00001.0) "
            "or GS1 Digital Link (https://id.gs1.org/414/0614141000012)"
        )

    @model_validator(mode="after")
    def _prefix_length_matches(self) -> LineSection:
        for name in ("read_point", "biz_location"):
            m = _SGLN_URN.match(getattr(self, name))
            if m and len(m.group(1)) != self.company_prefix_length:
                raise ValueError(
                    f"{name} {getattr(self, name)!r} has a {len(m.group(1))}-digit company prefix "
                    f"but company_prefix_length is {self.company_prefix_length}"
                )
        return self


class LedgerSection(_Strict):
    """Where the ledger lives."""

    path: Path


GradeLetter = Literal["A", "B", "C", "D", "E", "F"]


class Thresholds(_Strict):
    """Limits that decide rejects, holds and pool replenishment."""

    min_grade: GradeLetter = "C"
    consecutive_rejects_hold: Annotated[int, Field(ge=1, le=1000)] = 5
    pool_low_water: Annotated[int, Field(ge=0)] = 500
    pool_request_size: Annotated[int, Field(ge=1, le=1_000_000)] = 2000
    verdict_deadline_ms: Annotated[float, Field(gt=0, le=10_000)] = 100.0
    allow_expiry_day_zero: bool = False


_PROTOCOLS_BY_KIND: dict[str, frozenset[str]] = {
    "printer": frozenset({"zpl", "wsi"}),
    "reader": frozenset({"dmcc", "keyence"}),
    "camera": frozenset({"framepush", "opencv"}),
    "plc": frozenset({"modbus", "opcua"}),
}


class DeviceSection(_Strict):
    """One device: its kind, wire protocol and address (TCP host/port or a serial port)."""

    kind: Literal["printer", "camera", "reader", "plc"]
    protocol: Literal["zpl", "wsi", "dmcc", "keyence", "framepush", "opencv", "modbus", "opcua"]
    host: str | None = None
    port: Annotated[int, Field(ge=1, le=65535)] | None = None
    serial_port: str | None = None
    baudrate: Annotated[int, Field(ge=300, le=921_600)] = 9600
    url: str | None = None
    timeout_s: Annotated[float, Field(gt=0, le=60)] = 2.0
    options: dict[str, Any] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _consistent(self) -> DeviceSection:
        allowed = _PROTOCOLS_BY_KIND[self.kind]
        if self.protocol not in allowed:
            raise ValueError(
                f"protocol {self.protocol!r} is not a {self.kind} protocol "
                f"(use one of: {', '.join(sorted(allowed))})"
            )
        if self.protocol == "opencv":
            if not self.url:
                raise ValueError("an opencv camera needs url (a device index like '0' or RTSP URL)")
        elif self.serial_port is None and (self.host is None or self.port is None):
            raise ValueError("needs host and port (TCP), or serial_port (RS-232)")
        return self


class ControlSection(_Strict):
    """The local control API."""

    host: Literal["127.0.0.1", "::1", "localhost"] = "127.0.0.1"
    port: Annotated[int, Field(ge=1, le=65535)] = 8765
    unix_socket: Path | None = None
    token_file: Path | None = None


class LineConfig(_Strict):
    """A whole line's configuration file."""

    line: LineSection
    ledger: LedgerSection
    thresholds: Thresholds = Thresholds()
    devices: dict[str, DeviceSection] = Field(default_factory=dict)
    control: ControlSection = ControlSection()
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
        for name in ("unix_socket", "token_file")
        if (path := getattr(control, name)) is not None and not path.is_absolute()
    }
    if relative:
        config = config.model_copy(update={"control": control.model_copy(update=relative)})
    return config


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
