"""The ``[hmi]`` section: where the operator HMI listens and how it reaches the line."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field, model_validator

from linectl.config.section import Section

HmiLanguage = Literal["en", "de", "fr"]


class HmiSection(Section):
    """The operator HMI: HTTPS on the LAN, a client of the control API."""

    host: str = "0.0.0.0"
    port: Annotated[int, Field(ge=0, le=65535)] = 8443
    cert_file: Path | None = None
    key_file: Path | None = None
    state_dir: Path | None = None  # None: <ledger dir>/hmi
    token_file: Path | None = None
    nice: Annotated[int, Field(ge=0, le=19)] = 10  # CPU niceness: the pack path first
    language: HmiLanguage = "en"
    idle_logout_min: Annotated[float, Field(gt=0, le=24 * 60)] = 15.0
    push_per_s: Annotated[float, Field(ge=1, le=20)] = 5.0  # a shown value: 5 changes/s at most
    login_attempts_per_min: Annotated[int, Field(ge=1, le=1000)] = 10

    @model_validator(mode="after")
    def _cert_and_key_together(self) -> HmiSection:
        if (self.cert_file is None) != (self.key_file is None):
            raise ValueError("give both cert_file and key_file, or neither (a self-signed one)")
        return self
