"""Line configuration: the bottom layer of linectl, imported by everything and importing no stage.

One TOML file per line (:func:`load_config`), validated section by section: the line's own
(``line``), aggregation's and the upstream links'.
"""

from __future__ import annotations

from linectl.config.aggregation import (
    AggregationSection,
    CaseCheckMode,
    OrphanPolicy,
    PackingSettings,
)
from linectl.config.file import ConfigError, LineConfig, load_config, parse_config
from linectl.config.hmi import HmiSection
from linectl.config.identity import ROLE_NAMES, IdentitySection, LdapSection
from linectl.config.line import (
    CodeForm,
    ControlSection,
    DeviceSection,
    GradeLetter,
    LedgerSection,
    LineSection,
    Thresholds,
)
from linectl.config.markets import BUILTIN_PROFILES, CodeProfile
from linectl.config.opcua import OpcuaSection
from linectl.config.sscc_range import SsccRange, SsccRangeError, SsccRangeExhausted
from linectl.config.upstream import (
    EpcisSection,
    EpcisSyncSettings,
    ProvisioningSection,
    SsccSection,
    UpstreamSection,
)

__all__ = [
    "BUILTIN_PROFILES",
    "ROLE_NAMES",
    "AggregationSection",
    "CaseCheckMode",
    "CodeForm",
    "CodeProfile",
    "ConfigError",
    "ControlSection",
    "DeviceSection",
    "EpcisSection",
    "EpcisSyncSettings",
    "GradeLetter",
    "HmiSection",
    "IdentitySection",
    "LdapSection",
    "LedgerSection",
    "LineConfig",
    "LineSection",
    "OpcuaSection",
    "OrphanPolicy",
    "PackingSettings",
    "ProvisioningSection",
    "SsccRange",
    "SsccRangeError",
    "SsccRangeExhausted",
    "SsccSection",
    "Thresholds",
    "UpstreamSection",
    "load_config",
    "parse_config",
]
