"""Line configurations for the device-wiring tests: the [line] and [ledger] every test needs,
and a device section on a local TCP port."""

from __future__ import annotations

from typing import Any

from linectl.config import LineConfig, parse_config

LINE = {
    "id": "t",
    "read_point": "urn:epc:id:sgln:0950600.01343.1",
    "biz_location": "urn:epc:id:sgln:0950600.01343.0",
    "company_prefix_length": 7,
}


def tcp(kind: str, protocol: str, port: int, **extra: Any) -> dict[str, Any]:
    """A ``[devices.NAME]`` section for a device on 127.0.0.1:``port``."""
    return {"kind": kind, "protocol": protocol, "host": "127.0.0.1", "port": port} | extra


def line_config(devices: dict[str, dict[str, Any]], **sections: Any) -> LineConfig:
    """A parsed line configuration with these devices and any other sections."""
    data = {"line": LINE, "ledger": {"path": "/tmp/unused.db"}, "devices": devices}
    return parse_config(data | sections)
