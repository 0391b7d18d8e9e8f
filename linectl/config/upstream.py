"""The ``[upstream]`` section of a line configuration, validated like the rest of the file.

``UpstreamSection`` is ``LineConfig.upstream``::

    [upstream.provisioning]
    endpoint = "opc.tcp://site-server:4841/linectl/central"
    security = "Basic256Sha256,SignAndEncrypt,/etc/linectl/opcua.der,/etc/linectl/opcua.pem"
    username = "line-1"                  # optional; password in password_file
    password_file = "/etc/linectl/opcua.password"
    sn_format = "SERIALONLY"
    market = "DE"                         # PoolSelectionCriteria MARKET (optional)
    timeout_s = 10
    backoff_max_s = 30                    # retry delays (calls, refills, returns) grow to this
    [upstream.provisioning.collections]   # GTIN -> serial-number collection ID (optional)
    "04012345000016" = "ITEMS-04012345000016"

    [upstream.sscc]
    source = "central"                    # or "range"
    collection_id = "SSCC-4012345"        # central: the pool manager's SSCC collection
    company_prefix = "4012345"
    # range only: extension_digit = 3, first_reference = 1, last_reference = 99999

    [upstream.epcis]
    base_url = "https://epcis.example.com/epcis"   # POST {base_url}/capture
    token_file = "/etc/linectl/epcis.token"        # Authorization: Bearer <token>
    client_cert = "/etc/linectl/epcis-client.pem"  # optional TLS client certificate (+ client_key)
    ca_file = "/etc/linectl/site-ca.pem"           # optional; the system store otherwise
    capture_limit = 0                              # 0: the repository's own (OPTIONS /capture)
    file_size_limit = 0
    backoff_max_s = 300
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field, field_validator, model_validator

from drivers.reconnect import Backoff
from linectl.config.section import Section
from linectl.config.sscc_range import SsccRange

SECURITY_POLICIES = ("Basic256Sha256", "Aes128Sha256RsaOaep", "Aes256Sha256RsaPss")
"""OPC UA security policies a pool manager link may use (asyncua's names; none deprecated)."""
SECURITY_MODES = ("Sign", "SignAndEncrypt")


def security_files(security: str) -> list[tuple[str, Path]]:
    """The files an asyncua security string names, as (role, path); ValueError if malformed.

    Format: ``Policy,Mode,certificate,private_key[::key password][,server_certificate]``.
    """
    parts = security.split(",")
    if len(parts) not in (4, 5):
        raise ValueError(
            f"has {len(parts)} comma-separated parts; expected Policy,Mode,certificate,"
            "private_key[,server_certificate]"
        )
    if parts[0] not in SECURITY_POLICIES:
        raise ValueError(f"policy {parts[0]!r} is not one of {', '.join(SECURITY_POLICIES)}")
    if parts[1] not in SECURITY_MODES:
        raise ValueError(f"mode {parts[1]!r} is not one of {', '.join(SECURITY_MODES)}")
    roles = ("certificate", "private_key", "server_certificate")
    paths = [parts[2], parts[3].split("::", 1)[0], *parts[4:]]
    empty = [role for role, path in zip(roles, paths, strict=False) if not path.strip()]
    if empty:
        raise ValueError(f"{empty[0]} is empty")
    return [(role, Path(path)) for role, path in zip(roles, paths, strict=False)]


class ProvisioningSection(Section):
    """Where serial numbers come from: an OPEN-SCS pool manager over OPC UA."""

    endpoint: Annotated[str, Field(pattern=r"^opc\.tcp://[^/\s]+(/\S*)?$")]
    security: str | None = None  # asyncua security string: Policy,Mode,cert,key[,server_cert]
    username: str | None = None
    password_file: Path | None = None
    sn_format: Literal["SERIALONLY", "EPCURI"] = "SERIALONLY"
    market: Annotated[str, Field(pattern=r"^[A-Z]{2}$")] | None = None
    collections: dict[Annotated[str, Field(pattern=r"^\d{14}$")], str] = Field(default_factory=dict)
    timeout_s: Annotated[float, Field(gt=0, le=120)] = 10.0
    attempts: Annotated[int, Field(ge=1, le=100)] = 5
    backoff_initial_s: Annotated[float, Field(gt=0, le=60)] = 0.5
    backoff_max_s: Annotated[float, Field(gt=0, le=3600)] = 30.0

    @model_validator(mode="after")
    def _backoff_ordered(self) -> ProvisioningSection:
        if self.backoff_max_s < self.backoff_initial_s:
            raise ValueError("backoff_max_s must not be below backoff_initial_s")
        return self

    @field_validator("security")
    @classmethod
    def _security_string(cls, value: str | None) -> str | None:
        if value:
            security_files(value)  # raises ValueError naming the part that is wrong
        return value

    def backoff(self) -> Backoff:
        """A fresh retry schedule for the pool manager (between attempts, refills and returns)."""
        return Backoff(initial=self.backoff_initial_s, maximum=self.backoff_max_s)

    def password(self) -> str | None:
        """The OPC UA password, read from ``password_file`` (never kept in the config)."""
        if self.password_file is None:
            return None
        return self.password_file.read_text(encoding="utf-8").strip()


class SsccSection(Section):
    """Where SSCCs for cases and pallets come from."""

    source: Literal["central", "range"] = "central"
    collection_id: str = ""
    company_prefix: Annotated[str, Field(pattern=r"^\d{6,12}$")] | None = None
    extension_digit: Annotated[int, Field(ge=0, le=9)] = 0
    first_reference: Annotated[int, Field(ge=0)] | None = None
    last_reference: Annotated[int, Field(ge=0)] | None = None

    @model_validator(mode="after")
    def _range_complete(self) -> SsccSection:
        if self.source == "range":
            missing = [
                name
                for name in ("company_prefix", "first_reference", "last_reference")
                if getattr(self, name) is None
            ]
            if missing:
                raise ValueError(f"source = 'range' needs {', '.join(missing)}")
            self.sscc_range()  # refuses a range that does not fit the company prefix
        return self

    def sscc_range(self) -> SsccRange:
        """The configured range (``source = "range"`` only)."""
        assert self.company_prefix is not None
        assert self.first_reference is not None and self.last_reference is not None
        return SsccRange(
            self.company_prefix, self.extension_digit, self.first_reference, self.last_reference
        )


@dataclass(frozen=True)
class EpcisSyncSettings:
    """How to reach the repository and how patiently (``[upstream.epcis]`` of the line config)."""

    base_url: str
    token: str | None = None
    token_file: Path | None = None
    client_cert: Path | None = None
    client_key: Path | None = None
    ca_file: Path | None = None
    verify_tls: bool = True
    capture_limit: int | None = None  # at most this many events per document (with the server's)
    file_size_limit: int | None = None  # at most this many bytes per document (with the server's)
    default_capture_limit: int = 500  # when the server advertises none
    default_file_size_limit: int = 4_000_000
    request_timeout_s: float = 30.0
    job_timeout_s: float = 300.0
    poll_initial_s: float = 0.2
    poll_max_s: float = 5.0
    backoff_initial_s: float = 1.0
    backoff_max_s: float = 300.0
    idle_check_s: float = 5.0

    @property
    def capture_url(self) -> str:
        return self.base_url.rstrip("/") + "/capture"


class EpcisSection(Section):
    """Where events go: an EPCIS 2.0 repository's REST capture interface."""

    base_url: Annotated[str, Field(pattern=r"^https?://\S+$")]
    token_file: Path | None = None
    client_cert: Path | None = None
    client_key: Path | None = None
    ca_file: Path | None = None
    verify_tls: bool = True
    capture_limit: Annotated[int, Field(ge=0)] = 0
    file_size_limit: Annotated[int, Field(ge=0)] = 0
    request_timeout_s: Annotated[float, Field(gt=0, le=600)] = 30.0
    job_timeout_s: Annotated[float, Field(gt=0, le=86_400)] = 300.0
    backoff_initial_s: Annotated[float, Field(gt=0, le=60)] = 1.0
    backoff_max_s: Annotated[float, Field(gt=0, le=3600)] = 300.0

    @model_validator(mode="after")
    def _consistent(self) -> EpcisSection:
        if self.client_key is not None and self.client_cert is None:
            raise ValueError("client_key needs client_cert")
        if self.backoff_max_s < self.backoff_initial_s:
            raise ValueError("backoff_max_s must not be below backoff_initial_s")
        return self

    def settings(self) -> EpcisSyncSettings:
        """The sync's settings for this section (0 limits: the repository's own)."""
        return EpcisSyncSettings(
            base_url=self.base_url,
            token_file=self.token_file,
            client_cert=self.client_cert,
            client_key=self.client_key,
            ca_file=self.ca_file,
            verify_tls=self.verify_tls,
            capture_limit=self.capture_limit or None,
            file_size_limit=self.file_size_limit or None,
            request_timeout_s=self.request_timeout_s,
            job_timeout_s=self.job_timeout_s,
            backoff_initial_s=self.backoff_initial_s,
            backoff_max_s=self.backoff_max_s,
        )


class UpstreamSection(Section):
    """``[upstream]``: each link is optional; a line without one runs offline for it."""

    provisioning: ProvisioningSection | None = None
    sscc: SsccSection = SsccSection()
    epcis: EpcisSection | None = None
