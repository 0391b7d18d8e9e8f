"""The ``[opcua]`` section: the OPC UA server for SCADA and MES (PackML, OPC 30050)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

from pydantic import Field, model_validator

from linectl.config.section import Section


class OpcuaSection(Section):
    """Where ``linectl opcua`` listens, its certificate and trust lists, who may log in."""

    host: str = "0.0.0.0"
    port: Annotated[int, Field(ge=0, le=65535)] = 4840
    nodeset: Path | None = None  # None: $LINECTL_STANDARDS or ../shared/standards by the checkout
    state_dir: Path | None = None  # None: <ledger dir>/opcua
    cert_file: Path | None = None
    key_file: Path | None = None
    token_file: Path | None = None
    nice: Annotated[int, Field(ge=0, le=19)] = 10  # CPU niceness: the pack path first
    application_uri: str = "urn:linectl:opcua"
    allow_anonymous: bool = False
    allow_none_policy: bool = False
    machine_design_speed: Annotated[float, Field(ge=0)] | None = None  # None: target speed

    @model_validator(mode="after")
    def _cert_and_key_together(self) -> OpcuaSection:
        if (self.cert_file is None) != (self.key_file is None):
            raise ValueError("give both cert_file and key_file, or neither (one made at start)")
        return self
