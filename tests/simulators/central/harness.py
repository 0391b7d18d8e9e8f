"""Shared set-up for tests of the central simulator and of the upstream clients that talk to it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from simulators.central import CentralConfig, CollectionSpec, load_config

NODESET = Path("opcua/OpenSCS/Opc.Ua.OPENSCS.NodeSet2.xml")
SCHEMA = Path("epcis/EPCIS-JSON-Schema.json")

GTIN_ITEMS = "04012345000016"
GTIN_TINY = "04012345000023"
GTIN_LOCKED = "04012345000030"

TEST_COLLECTIONS = (
    CollectionSpec(id="ITEMS", kind="sgtin", gtin=GTIN_ITEMS, markets=("DE", "FR"), default=True),
    CollectionSpec(
        id="TINY",
        kind="sgtin",
        gtin=GTIN_TINY,
        serial_length=8,
        alphabet="alphanumeric",
        capacity=30,
    ),
    CollectionSpec(id="LOCKED", kind="sgtin", gtin=GTIN_LOCKED, locked=True),
    CollectionSpec(
        id="SSCC",
        kind="sscc",
        company_prefix="4012345",
        extension_digit=3,
        first_reference=100,
        last_reference=199,
    ),
)


def central_config(tmp_path: Path, standards: Path, **overrides: Any) -> CentralConfig:
    """A simulator on 127.0.0.1 with ephemeral ports and the publishers' files."""
    values: dict[str, Any] = {
        "db_path": tmp_path / "central.db",
        "host": "127.0.0.1",
        "opcua_port": 0,
        "epcis_port": 0,
        "admin_port": 0,
        "nodeset": standards / NODESET,
        "schema": standards / SCHEMA,
        "collections": TEST_COLLECTIONS,
    }
    values.update(overrides)
    return load_config(None, **values)
