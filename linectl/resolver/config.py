"""``RESOLVER.toml``: where the resolver listens, its database, rules, webhooks and accounts.

Secrets are never in the file: partner and capture tokens are given as SHA-256 hex digests, brand
passwords as scrypt hashes (``linectl resolver hash-password``), the session key in a file.
Example (all keys: docs/resolver.md)::

    [resolver]
    listen_host = "0.0.0.0"
    listen_port = 8090
    public_url = "https://id.example.com"        # the domain printed in the Digital Link
    database = "postgresql://resolver@db/resolver" # or "sqlite:///var/lib/linectl/resolver.db"
    epcis_schema = "/usr/share/linectl/EPCIS-JSON-Schema.json"
    capture_tokens_sha256 = ["9f86d0..."]          # Bearer tokens of the lines / repositories
    session_key_file = "/etc/linectl/resolver-session.key"

    [rules]
    max_scans = 5
"""

from __future__ import annotations

import hashlib
import hmac
import tomllib
from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field, ValidationError, model_validator

from linectl.config import ConfigError
from linectl.config.section import Section

Hex64 = Annotated[str, Field(pattern=r"^[0-9a-f]{64}$")]
Country = Annotated[str, Field(pattern=r"^[A-Z]{2}$")]
DecommissionReason = Literal["dispensed", "exported", "destroyed"]


class RulesSection(Section):
    """When a scan raises an alert (docs/resolver.md, "Rules and alerts")."""

    max_scans: Annotated[int, Field(ge=1)] = 5
    """More scans of one serial than this: ``too-many-scans``."""
    country_window_h: Annotated[float, Field(gt=0)] = 72.0
    """Scans of one serial in two or more countries within this window: ``several-countries``."""
    diversion: bool = True
    """A scan in a country outside the product's target markets: ``diversion``."""
    unknown_serial: bool = True
    """A serial never commissioned (or made up): ``counterfeit-suspect``."""
    recalled_lot: bool = True
    """A scan of a recalled lot: ``recalled-lot``."""


class WebhookSection(Section):
    """One receiver of alerts: JSON POSTs, signed with HMAC-SHA256 when a secret file is given."""

    url: Annotated[str, Field(pattern=r"^https?://\S+$")]
    secret_file: Path | None = None
    kinds: list[str] = Field(default_factory=list)
    """Alert kinds to send (empty: all)."""
    max_attempts: Annotated[int, Field(ge=1, le=100)] = 12
    backoff_initial_s: Annotated[float, Field(gt=0, le=600)] = 2.0
    backoff_max_s: Annotated[float, Field(gt=0, le=86_400)] = 600.0
    timeout_s: Annotated[float, Field(gt=0, le=120)] = 10.0

    def secret(self) -> bytes | None:
        """The signing key, read from ``secret_file``."""
        if self.secret_file is None:
            return None
        return self.secret_file.read_bytes().strip()


def _dispensed_only() -> list[DecommissionReason]:
    return ["dispensed"]


class PartnerSection(Section):
    """A partner app (pharmacy, distributor) allowed to decommission with its API token."""

    name: Annotated[str, Field(min_length=1, max_length=80)]
    token_sha256: Hex64
    may: list[DecommissionReason] = Field(default_factory=_dispensed_only)


class BrandUserSection(Section):
    """A brand user of the dashboard: name and scrypt password hash."""

    name: Annotated[str, Field(min_length=1, max_length=80)]
    password_hash: Annotated[str, Field(pattern=r"^scrypt\$\d+\$\d+\$\d+\$[0-9a-f]+\$[0-9a-f]+$")]


class ResolverSection(Section):
    """``[resolver]``: the process and what it serves."""

    listen_host: str = "127.0.0.1"
    listen_port: Annotated[int, Field(ge=0, le=65535)] = 8090
    reuse_port: bool = False
    """Several workers on one host share ``listen_port`` (SO_REUSEPORT; the kernel balances)."""
    public_url: Annotated[str, Field(pattern=r"^https?://[^/\s]+$")]
    database: Annotated[str, Field(pattern=r"^(sqlite:///|postgres(ql)?://)\S+$")]
    epcis_schema: Path
    capture_tokens_sha256: list[Hex64] = Field(default_factory=list)
    session_key_file: Path
    country_header: str | None = None
    """A header a trusted proxy sets to the client's country (e.g. ``CF-IPCountry``)."""
    languages: list[Annotated[str, Field(pattern=r"^[a-z]{2}$")]] = Field(
        default_factory=lambda: ["en", "de", "fr"]
    )
    default_language: Annotated[str, Field(pattern=r"^[a-z]{2}$")] = "en"
    scan_retention_days: Annotated[int, Field(ge=1, le=3650)] = 400
    undo_window_h: Annotated[float, Field(gt=0)] = 240.0
    """How long after a decommission its partner may undo it (not for ``destroyed``)."""
    capture_limit: Annotated[int, Field(ge=1)] = 10_000
    file_size_limit: Annotated[int, Field(ge=1024)] = 20_000_000
    pool_size: Annotated[int, Field(ge=1, le=100)] = 4
    webhook_poll_s: Annotated[float, Field(gt=0, le=600)] = 5.0


class ResolverConfig(Section):
    """The whole ``RESOLVER.toml``."""

    resolver: ResolverSection
    rules: RulesSection = RulesSection()
    webhooks: list[WebhookSection] = Field(default_factory=list)
    partners: list[PartnerSection] = Field(default_factory=list)
    brand_users: list[BrandUserSection] = Field(default_factory=list)

    @model_validator(mode="after")
    def _unique_names(self) -> ResolverConfig:
        for kind, names in (
            ("partner", [p.name for p in self.partners]),
            ("brand user", [u.name for u in self.brand_users]),
        ):
            if len(set(names)) != len(names):
                raise ValueError(f"two {kind}s share a name")
        return self

    def session_key(self) -> bytes:
        """The key that signs dashboard session cookies (shared by every worker)."""
        key = self.resolver.session_key_file.read_bytes().strip()
        if len(key) < 32:
            raise ConfigError(self.resolver.session_key_file, ["the key needs 32 bytes or more"])
        return key

    def partner_for(self, token: str) -> PartnerSection | None:
        """The partner whose token this is, compared in constant time."""
        digest = hashlib.sha256(token.encode()).hexdigest()
        for partner in self.partners:
            if hmac.compare_digest(partner.token_sha256, digest):
                return partner
        return None

    def capture_allowed(self, token: str) -> bool:
        digest = hashlib.sha256(token.encode()).hexdigest()
        return any(hmac.compare_digest(d, digest) for d in self.resolver.capture_tokens_sha256)


def load_resolver_config(path: str | Path) -> ResolverConfig:
    """Read and check ``RESOLVER.toml``; relative paths are taken from the file's directory."""
    path = Path(path)
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError(path, [str(exc.strerror)]) from exc
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(path, [str(exc)]) from exc
    section = data.get("resolver")
    if isinstance(section, dict):
        for key in ("epcis_schema", "session_key_file"):
            if isinstance(section.get(key), str):
                section[key] = str(path.parent / section[key])
        db = section.get("database")
        if isinstance(db, str) and db.startswith("sqlite:///") and not db.startswith("sqlite:////"):
            section["database"] = "sqlite:///" + str(path.parent / db.removeprefix("sqlite:///"))
    try:
        return ResolverConfig.model_validate(data)
    except ValidationError as exc:
        lines = [f"{'.'.join(str(p) for p in err['loc'])}: {err['msg']}" for err in exc.errors()]
        raise ConfigError(path, lines) from None


def hash_password(password: str, *, salt: bytes, n: int = 2**14, r: int = 8, p: int = 1) -> str:
    """``scrypt$n$r$p$salt$hash`` for a brand user's password."""
    digest = hashlib.scrypt(password.encode(), salt=salt, n=n, r=r, p=p, dklen=32)
    return f"scrypt${n}${r}${p}${salt.hex()}${digest.hex()}"


def check_password(password: str, stored: str) -> bool:
    """True when ``password`` matches the scrypt hash ``stored``."""
    _, n, r, p, salt, digest = stored.split("$")
    mine = hashlib.scrypt(
        password.encode(), salt=bytes.fromhex(salt), n=int(n), r=int(r), p=int(p), dklen=32
    )
    return hmac.compare_digest(mine.hex(), digest)
