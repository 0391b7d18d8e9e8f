"""A minimal valid line configuration (as parsed TOML) for the label tests to change."""

from __future__ import annotations

from typing import Any

BASE_CONFIG: dict[str, Any] = {
    "line": {
        "id": "line-1",
        "read_point": "urn:epc:id:sgln:4012345.00001.1",
        "biz_location": "urn:epc:id:sgln:4012345.00001.0",
        "company_prefix_length": 7,
    },
    "ledger": {"path": "ledger.db"},
}
