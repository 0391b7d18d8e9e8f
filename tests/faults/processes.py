"""The real ``linectl`` command as a process, and device ports that show whether it called."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
GTIN = "09506000134352"


def linectl(
    *args: str, cwd: Path | None = None, stdin: str | None = None
) -> subprocess.CompletedProcess[str]:
    """``linectl ARGS`` as whoever is logged in for this test (tests/people.py), if anyone."""
    cmd = [sys.executable, "-m", "linectl.cli", *args]
    env = dict(os.environ, PYTHONPATH=str(REPO))
    return subprocess.run(
        cmd, capture_output=True, text=True, timeout=120, cwd=cwd, env=env, input=stdin
    )


def snapshot(folder: Path) -> dict[str, tuple[bytes, int]]:
    """Every file under ``folder``: its bytes and mtime (ns)."""
    return {
        str(p.relative_to(folder)): (p.read_bytes(), p.stat().st_mtime_ns)
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


@contextmanager
def silent_devices() -> Iterator[list[socket.socket]]:
    """Three listening TCP ports that record whether anyone connected (never accepted)."""
    with ExitStack() as stack:
        socks = []
        for _ in range(3):
            sock = stack.enter_context(socket.socket())
            sock.bind(("127.0.0.1", 0))
            sock.listen(8)
            sock.setblocking(False)
            socks.append(sock)
        yield socks


def contacted(sock: socket.socket) -> bool:
    try:
        conn, _ = sock.accept()
    except BlockingIOError:
        return False
    conn.close()
    return True


def line_config(tmp: Path, ledger: Path, ports: list[int], extra: str = "") -> Path:
    plc, printer, camera = ports
    path = tmp / "line.toml"
    path.write_text(f"""
[line]
id = "faults-line"
read_point = "urn:epc:id:sgln:0950600.01343.1"
biz_location = "urn:epc:id:sgln:0950600.01343.0"
company_prefix_length = 7

[ledger]
path = "{ledger}"

[devices.plc]
kind = "plc"
protocol = "modbus"
host = "127.0.0.1"
port = {plc}

[devices.zebra]
kind = "printer"
protocol = "zpl"
host = "127.0.0.1"
port = {printer}

[devices.cam]
kind = "camera"
protocol = "framepush"
host = "127.0.0.1"
port = {camera}
{extra}
""")
    return path
