"""The e2e rig's upstream and log: an EPCIS repository for the line, and what the daemon logged.

With ``line_rig(upstream=True)`` the in-process daemon sends its events to a central simulator
(EPCIS only, no pool manager), so a test can check that none was lost or duplicated
(``Rig.check_invariants``); the log tap lets a test check that the log names an alarm as status
does (``Rig.operator_view``).
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from simulators.central import CentralSimulator
from simulators.central import load_config as central_settings
from tests.conftest import standards_root


class LogTap(logging.Handler):
    """Keeps what the daemon's loggers (``linectl.*``) say at WARNING and above."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(f"{record.levelname} {record.name}: {record.getMessage()}")

    def text(self) -> str:
        return "\n".join(self.lines)


@contextlib.contextmanager
def tapped_log() -> Iterator[LogTap]:
    tap = LogTap()
    logger = logging.getLogger("linectl")
    logger.addHandler(tap)
    try:
        yield tap
    finally:
        logger.removeHandler(tap)


async def start_central(tmp: Path) -> CentralSimulator:
    """An EPCIS repository (the central simulator without its pool manager) for one line."""
    folder = tmp / "central"
    folder.mkdir(exist_ok=True)
    root = standards_root()
    settings = central_settings(
        None,
        db_path=folder / "central.db",
        host="127.0.0.1",
        epcis_port=0,
        opcua_port=0,
        nodeset=root / "opcua/OpenSCS/Opc.Ua.OPENSCS.NodeSet2.xml",
        schema=root / "epcis/EPCIS-JSON-Schema.json",
    )
    central = CentralSimulator(settings, serve_opcua=False, admin=False)
    await central.start()
    return central


def upstream_section(base_url: str) -> dict[str, Any]:
    """``[upstream.epcis]`` for a line sending to a local repository, retrying quickly."""
    return {
        "base_url": base_url,
        "request_timeout_s": 5,
        "job_timeout_s": 20,
        "backoff_initial_s": 0.2,
        "backoff_max_s": 2,
    }


def epcis_toml(base_url: str) -> str:
    """The same ``[upstream.epcis]`` as TOML text, for a test that writes its configuration."""
    lines = [
        f"{key} = {value!r}".replace("'", '"') for key, value in upstream_section(base_url).items()
    ]
    return "\n[upstream.epcis]\n" + "\n".join(lines) + "\n"
