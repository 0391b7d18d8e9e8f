"""The line's own sections: who it is, its ledger, thresholds, devices and control API."""

from __future__ import annotations

import enum
import re
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import Field, field_validator, model_validator

from linectl.config.markets import BUILTIN_PROFILES, PROFILE_NAME, CodeProfile
from linectl.config.section import Section
from standards.gs1.epc import IdentifierForm

_SGLN_URN = re.compile(r"^urn:epc:id:sgln:(\d{6,12})\.(\d{0,6})\.([!-~]{1,20})$")
_SGLN_DL = re.compile(r"^https?://[^/]+(/.*)?/414/(\d{13})(/254/[!-~]{1,20})?$")


class CodeForm(enum.StrEnum):
    """What is encoded in the printed code."""

    ELEMENT_STRING_DATAMATRIX = "element-string-datamatrix"
    DIGITAL_LINK_DATAMATRIX = "digital-link-datamatrix"
    DIGITAL_LINK_QR = "digital-link-qr"


class LineSection(Section):
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
    target_packs_per_minute: Annotated[int, Field(ge=1, le=100_000)] | None = None
    profiles: dict[str, CodeProfile] = Field(default_factory=dict)
    """Market code profiles added to (or replacing) the shipped ones, by name."""

    @field_validator("profiles")
    @classmethod
    def _profile_names(cls, value: dict[str, CodeProfile]) -> dict[str, CodeProfile]:
        for name in value:
            if not re.match(PROFILE_NAME, name):
                raise ValueError(
                    f"profile name {name!r}: lower-case letters, digits and '-', up to 32"
                )
        return value

    def code_profiles(self) -> dict[str, CodeProfile]:
        """Every profile a work order may name: the shipped ones, then this line's."""
        return BUILTIN_PROFILES | self.profiles

    def code_profile(self, name: str) -> CodeProfile:
        """The profile ``name``; KeyError with the known names when there is none."""
        known = self.code_profiles()
        if name not in known:
            raise KeyError(
                f"code profile {name!r} is not defined (known: {', '.join(sorted(known))})"
            )
        return known[name]

    @property
    def reads_qr(self) -> bool:
        """Whether the line's codes may be QR (the decoder then looks for QR too)."""
        return self.code_form is CodeForm.DIGITAL_LINK_QR or any(
            p.symbology == "qr" for p in self.profiles.values()
        )

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


class LedgerSection(Section):
    """Where the ledger lives."""

    path: Path


GradeLetter = Literal["A", "B", "C", "D", "E", "F"]


class Thresholds(Section):
    """Limits that decide rejects, holds and pool replenishment."""

    min_grade: GradeLetter = "C"
    consecutive_rejects_hold: Annotated[int, Field(ge=1, le=1000)] = 5
    pool_low_water: Annotated[int, Field(ge=0)] = 500
    pool_request_size: Annotated[int, Field(ge=1, le=1_000_000)] = 2000
    verdict_deadline_ms: Annotated[float, Field(gt=0, le=10_000)] = 100.0
    allow_expiry_day_zero: bool = False
    overrun_percent: Annotated[float, Field(ge=0, le=100)] = 2.0


_PROTOCOLS_BY_KIND: dict[str, frozenset[str]] = {
    "printer": frozenset({"zpl", "wsi"}),
    "reader": frozenset({"dmcc", "keyence"}),
    "camera": frozenset({"framepush", "opencv"}),
    "plc": frozenset({"modbus", "opcua"}),
    "rfid": frozenset({"llrp"}),
}
_DEFAULT_PORTS = {"llrp": 5084}  # protocols whose devices have a standard port


class DeviceSection(Section):
    """One device: its kind, wire protocol and address (TCP host/port or a serial port)."""

    kind: Literal["printer", "camera", "reader", "plc", "rfid"]
    protocol: Literal[
        "zpl", "wsi", "dmcc", "keyence", "framepush", "opencv", "modbus", "opcua", "llrp"
    ]
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
        elif self.serial_port is None and (
            self.host is None or (self.port is None and self.protocol not in _DEFAULT_PORTS)
        ):
            raise ValueError("needs host and port (TCP), or serial_port (RS-232)")
        return self


class ControlSection(Section):
    """The local control API."""

    host: Literal["127.0.0.1", "::1", "localhost"] = "127.0.0.1"
    port: Annotated[int, Field(ge=1, le=65535)] = 8765
    unix_socket: Path | None = None
