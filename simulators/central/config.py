"""Configuration of the central simulator: its listeners, its serial-number collections, its limits.

A TOML file (``--config``) holds everything; command-line options override single values. Every
mistake is reported with the key it concerns. Example::

    [pool]
    path = "central.db"             # the persistent serial pool and event repository (SQLite)
    max_sn_requestable = 1000         # Count allowed in one request call
    page_size = 250                   # serials per answer; the rest follows by RequestToken

    [[collections]]
    id = "ITEMS-04012345000016"
    kind = "sgtin"                  # random serials for one GTIN
    gtin = "04012345000016"
    company_prefix_length = 7
    serial_length = 12
    alphabet = "numeric"            # or "alphanumeric" (A-Z a-z 0-9, a CSET 82 subset)
    capacity = 1_000_000
    markets = ["DE", "FR"]          # empty: any market

    [[collections]]
    id = "SSCC-4012345"
    kind = "sscc"                   # sequential serial references under a company prefix
    company_prefix = "4012345"
    extension_digit = 3
    first_reference = 1
    last_reference = 999_999_999

    [epcis]
    capture_limit = 500
    file_size_limit = 2_000_000
"""

from __future__ import annotations

import os
import re
import tomllib
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, Literal

from simulators.central.faults import Faults
from standards.gs1.checkdigit import check_digit

ALPHABETS = {
    "numeric": "0123456789",
    "alphanumeric": "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz",
}
#: EU 2016/161 art. 4: the chance to guess a valid serial must stay below 1 in 10,000.
GUESS_FACTOR = 10_000
NODESET_RELATIVE = Path("opcua/OpenSCS/Opc.Ua.OPENSCS.NodeSet2.xml")
SCHEMA_RELATIVE = Path("epcis/EPCIS-JSON-Schema.json")


class CentralConfigError(ValueError):
    """A configuration value the simulator cannot use; the message names the key."""


@dataclass(frozen=True)
class CollectionSpec:
    """One OPEN-SCS Serial Number Collection the pool manager serves."""

    id: str
    kind: Literal["sgtin", "sscc"]
    gtin: str = ""
    company_prefix_length: int = 7
    serial_length: int = 12
    alphabet: str = "numeric"
    capacity: int = 1_000_000
    markets: tuple[str, ...] = ()
    company_prefix: str = ""
    extension_digit: int = 0
    first_reference: int = 1
    last_reference: int = 0
    locked: bool = False
    default: bool = False
    description: str = ""

    def __post_init__(self) -> None:
        where = f"collections[{self.id!r}]"
        if not re.fullmatch(r"[A-Za-z0-9._:-]{1,64}", self.id):
            raise CentralConfigError(f"{where}.id: use 1-64 letters, digits, '.', '_', ':' or '-'")
        if self.kind == "sgtin":
            self._check_sgtin(where)
        elif self.kind == "sscc":
            self._check_sscc(where)
        else:
            raise CentralConfigError(f"{where}.kind: {self.kind!r} is not 'sgtin' or 'sscc'")
        for market in self.markets:
            if not re.fullmatch(r"[A-Z]{2}", market):
                raise CentralConfigError(f"{where}.markets: {market!r} is not an ISO 3166 code")

    def _check_sgtin(self, where: str) -> None:
        gtin = self.gtin
        if not (len(gtin) == 14 and gtin.isdigit() and check_digit(gtin[:-1]) == gtin[-1]):
            raise CentralConfigError(f"{where}.gtin: {gtin!r} is not a GTIN-14 with check digit")
        if not 6 <= self.company_prefix_length <= 12:
            raise CentralConfigError(f"{where}.company_prefix_length: must be 6 to 12")
        if self.alphabet not in ALPHABETS:
            raise CentralConfigError(f"{where}.alphabet: use one of {', '.join(ALPHABETS)}")
        if not 1 <= self.serial_length <= 20:
            raise CentralConfigError(f"{where}.serial_length: AI (21) holds 1 to 20 characters")
        if self.capacity < 1:
            raise CentralConfigError(f"{where}.capacity: must be at least 1")
        space = self.serial_space
        if space < GUESS_FACTOR * self.capacity:
            need = next(
                (n for n in range(1, 21) if self._space(n) >= GUESS_FACTOR * self.capacity), 21
            )
            raise CentralConfigError(
                f"{where}.serial_length: {self.serial_length} {self.alphabet} characters give "
                f"{space:,} serials, fewer than {GUESS_FACTOR:,} x capacity {self.capacity:,}; "
                f"use at least {need} characters or a smaller capacity"
            )

    def _check_sscc(self, where: str) -> None:
        cp = self.company_prefix
        if not (cp.isdigit() and 6 <= len(cp) <= 12):
            raise CentralConfigError(f"{where}.company_prefix: {cp!r} is not 6 to 12 digits")
        if not 0 <= self.extension_digit <= 9:
            raise CentralConfigError(f"{where}.extension_digit: must be 0 to 9")
        top = 10 ** (16 - len(cp)) - 1
        last = self.last_reference or top
        if not 0 <= self.first_reference <= last <= top:
            raise CentralConfigError(
                f"{where}: serial references must satisfy 0 <= first_reference <= "
                f"last_reference <= {top} with a {len(cp)}-digit company prefix"
            )
        object.__setattr__(self, "last_reference", last)
        object.__setattr__(self, "capacity", last - self.first_reference + 1)
        object.__setattr__(self, "company_prefix_length", len(cp))

    @property
    def serial_space(self) -> int:
        """How many distinct serials the format allows (no leading zero for numeric serials)."""
        return self._space(self.serial_length)

    def _space(self, length: int) -> int:
        if self.alphabet == "numeric":
            return int(9 * 10 ** (length - 1))
        return int(len(ALPHABETS[self.alphabet]) ** length)

    @property
    def namespace(self) -> str:
        """Serials are unique within this: the GTIN, or the SSCC's company prefix."""
        return self.gtin if self.kind == "sgtin" else f"sscc:{self.company_prefix}"

    def sscc(self, reference: int) -> str:
        """The 18-digit SSCC for a serial reference of this collection."""
        width = 16 - len(self.company_prefix)
        body = f"{self.extension_digit}{self.company_prefix}{reference:0{width}d}"
        return body + check_digit(body)


def default_collections() -> tuple[CollectionSpec, ...]:
    """What the demo line uses (company prefix 4012345) when no configuration file is given."""
    return (
        CollectionSpec(
            id="ITEMS-04012345000016",
            kind="sgtin",
            gtin="04012345000016",
            company_prefix_length=7,
            markets=("DE", "FR", "IT"),
            default=True,
            description="demo item serials",
        ),
        CollectionSpec(
            id="SSCC-4012345",
            kind="sscc",
            company_prefix="4012345",
            extension_digit=3,
            description="demo SSCCs",
        ),
    )


def standards_dir() -> Path:
    """``../shared/standards`` beside the repository (or $LINECTL_STANDARDS)."""
    override = os.environ.get("LINECTL_STANDARDS")
    if override:
        return Path(override)
    return Path(__file__).resolve().parents[3] / "shared" / "standards"


@dataclass
class CentralConfig:
    """Everything the central simulator needs to run."""

    db_path: Path = Path("central.db")
    host: str = "127.0.0.1"
    opcua_port: int = 4841
    epcis_port: int = 8090
    admin_port: int | None = 8091
    nodeset: Path = field(default_factory=lambda: standards_dir() / NODESET_RELATIVE)
    schema: Path = field(default_factory=lambda: standards_dir() / SCHEMA_RELATIVE)
    collections: tuple[CollectionSpec, ...] = field(default_factory=default_collections)
    max_sn_requestable: int = 1000
    max_sn_returnable: int = 1000
    page_size: int = 250
    token_ttl_s: float = 600.0
    capture_limit: int = 500
    file_size_limit: int = 4_000_000
    advertise_limits: bool = True
    duplicates: Literal["ignore", "reject"] = "ignore"
    bearer_token: str | None = None
    job_delay_s: float = 0.0
    faults: Faults = field(default_factory=Faults)

    def __post_init__(self) -> None:
        self.check()

    def check(self) -> None:
        ids = [c.id for c in self.collections]
        if not ids:
            raise CentralConfigError("collections: configure at least one collection")
        repeated = sorted({i for i in ids if ids.count(i) > 1})
        if repeated:
            raise CentralConfigError(f"collections: id {repeated[0]!r} appears twice")
        if sum(c.default for c in self.collections) > 1:
            raise CentralConfigError("collections: only one collection may be the default")
        names = ("max_sn_requestable", "max_sn_returnable", "page_size", "capture_limit")
        for name in (*names, "file_size_limit"):
            if getattr(self, name) < 1:
                raise CentralConfigError(f"{name}: must be at least 1")
        if self.duplicates not in ("ignore", "reject"):
            raise CentralConfigError("epcis.duplicates: use 'ignore' or 'reject'")

    @property
    def default_collection(self) -> CollectionSpec:
        return next((c for c in self.collections if c.default), self.collections[0])


_SECTIONS: dict[str, dict[str, str]] = {
    "pool": {
        "path": "db_path",
        "max_sn_requestable": "max_sn_requestable",
        "max_sn_returnable": "max_sn_returnable",
        "page_size": "page_size",
        "token_ttl_s": "token_ttl_s",
    },
    "opcua": {"host": "host", "port": "opcua_port", "nodeset": "nodeset"},
    "epcis": {
        "port": "epcis_port",
        "admin_port": "admin_port",
        "schema": "schema",
        "capture_limit": "capture_limit",
        "file_size_limit": "file_size_limit",
        "advertise_limits": "advertise_limits",
        "duplicates": "duplicates",
        "bearer_token": "bearer_token",
        "job_delay_s": "job_delay_s",
    },
}


def _collection(index: int, raw: Any) -> CollectionSpec:
    where = f"collections[{index}]"
    if not isinstance(raw, dict):
        raise CentralConfigError(f"{where}: must be a table")
    known = {f.name for f in fields(CollectionSpec)}
    unknown = sorted(set(raw) - known)
    if unknown:
        raise CentralConfigError(f"{where}.{unknown[0]}: unknown key")
    values = dict(raw)
    if "markets" in values:
        values["markets"] = tuple(values["markets"])
    try:
        return CollectionSpec(**values)
    except TypeError as exc:
        raise CentralConfigError(f"{where}: {exc}") from None


def load_config(path: Path | str | None, **overrides: Any) -> CentralConfig:
    """Read a TOML file (optional), then apply ``overrides`` (None values are ignored)."""
    values: dict[str, Any] = {}
    fault_values: dict[str, Any] = {}
    if path is not None:
        path = Path(path)
        try:
            data = tomllib.loads(path.read_text(encoding="utf-8"))
        except OSError as exc:
            raise CentralConfigError(f"{path}: cannot read: {exc.strerror}") from None
        except tomllib.TOMLDecodeError as exc:
            raise CentralConfigError(f"{path}: not valid TOML: {exc}") from None
        for section, table in data.items():
            if section == "collections":
                values["collections"] = tuple(_collection(i, c) for i, c in enumerate(table))
            elif section == "faults":
                fault_values = dict(table)
            elif section in _SECTIONS:
                for key, value in table.items():
                    if key not in _SECTIONS[section]:
                        raise CentralConfigError(f"{path}: {section}.{key}: unknown key")
                    values[_SECTIONS[section][key]] = value
            else:
                raise CentralConfigError(f"{path}: [{section}]: unknown section")
        for key in ("db_path", "nodeset", "schema"):
            if key in values:
                values[key] = path.parent / Path(values[key])
    for key, value in overrides.items():
        if value is None:
            continue
        if key.startswith("fault_"):
            fault_values[key.removeprefix("fault_")] = value
        else:
            values[key] = value
    faults = Faults()
    faults.update(fault_values)
    return CentralConfig(**values, faults=faults)
