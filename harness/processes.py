"""The demo's line as processes: configuration files, the simulated line and the daemon.

Shared by ``make demo`` (:mod:`harness.demo`), the end-to-end kill test and the line speed
benchmark: a TOML writer for the derived configurations, the simulators and the daemon started
as subprocesses (each in its own session, stdout and log kept, stopped with SIGTERM then SIGKILL)
and a control API client for the daemon. The simulated line runs as its command line
(``python -m simulators line``), as real devices would be addresses; only the words of its
ready line come from :mod:`simulators.virtual_line`.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

from linectl.config import load_config
from linectl.service.client import ControlClient, Endpoint
from simulators.virtual_line import PLC_PORT, READY

REPO = Path(__file__).resolve().parent.parent
USER = "demo"
_UNIX_PATH_MAX = 100  # sun_path is 108 bytes; longer paths fall back to a TCP port


class DemoError(Exception):
    """The demo could not run (a process did not start, the line did not finish, ...)."""


@dataclass(frozen=True)
class DemoFiles:
    """The files of one demo run, all under ``root``."""

    root: Path

    @property
    def sim_config(self) -> Path:
        return self.root / "simulators.toml"

    @property
    def config(self) -> Path:
        return self.root / "line.toml"

    @property
    def ledger(self) -> Path:
        return self.root / "ledger.db"

    @property
    def serials(self) -> Path:
        return self.root / "serials.txt"

    @property
    def print_log(self) -> Path:
        return self.root / "prints.jsonl"

    @property
    def ssccs(self) -> Path:
        """SSCCs for the demo's cases and pallets (what the pool manager would send)."""
        return self.root / "ssccs.txt"

    @property
    def case_log(self) -> Path:
        """The simulated case packer's ground truth: cases, labels, pallets."""
        return self.root / "cases.jsonl"

    @property
    def sim_log(self) -> Path:
        return self.root / "simulators.log"

    @property
    def daemon_log(self) -> Path:
        return self.root / "daemon.log"

    @property
    def control_socket(self) -> Path:
        return self.root / "control.sock"

    @property
    def token(self) -> Path:
        """The API token of the demo's machine account (USER), mode 0600."""
        return self.root / f"{USER}.token"

    @property
    def sessions(self) -> Path:
        """Where the CLI keeps login sessions during the demo (not the user's home)."""
        return self.root / "sessions"


# --- configuration -------------------------------------------------------------------------------


def toml_text(data: Mapping[str, Any]) -> str:
    """A TOML document for nested tables of strings, numbers, booleans and lists."""
    lines: list[str] = []

    def emit(table: Mapping[str, Any], path: list[str]) -> None:
        scalars = [(k, v) for k, v in table.items() if not isinstance(v, Mapping)]
        tables = [(k, v) for k, v in table.items() if isinstance(v, Mapping)]
        if path and (scalars or not tables):
            lines.append(f"\n[{'.'.join(_toml_key(p) for p in path)}]")
        lines.extend(f"{_toml_key(k)} = {_toml_value(v)}" for k, v in scalars)
        for key, sub in tables:
            emit(sub, [*path, key])

    emit(data, [])
    return "\n".join(lines).lstrip("\n") + "\n"


def _toml_key(key: str) -> str:
    bare = key and all(c.isascii() and (c.isalnum() or c in "_-") for c in key)
    return key if bare else json.dumps(key)


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, str | Path):
        return json.dumps(str(value), ensure_ascii=False)
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    raise TypeError(f"cannot write {type(value).__name__} {value!r} as TOML")


def daemon_config(
    sim: Mapping[str, Any], ports: Mapping[str, int], files: DemoFiles
) -> dict[str, Any]:
    """The daemon's configuration: the simulators' bound ports, the control API off TCP."""
    data: dict[str, Any] = json.loads(json.dumps(sim))
    for name, device in data.get("devices", {}).items():
        key = PLC_PORT if device.get("kind") == "plc" else name
        if key not in ports:
            raise DemoError(f"the simulated line reported no port for device {name!r}")
        device["port"] = ports[key]
    thresholds = data.setdefault("thresholds", {})
    thresholds["pool_low_water"] = min(int(thresholds.get("pool_low_water", 0)), 20)
    data["identity"] = {"session_dir": str(files.sessions)}
    if len(str(files.control_socket)) < _UNIX_PATH_MAX:
        data["control"] = {"unix_socket": str(files.control_socket)}
    else:
        data["control"] = {"host": "127.0.0.1", "port": free_port()}
    return data


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def parse_ports(ready_line: str) -> dict[str, int]:
    """``simulated line ready: plc=5020 printer=9100 ... opcua=...`` -> {name: port}."""
    ports: dict[str, int] = {}
    for item in ready_line.split(":", 1)[-1].split():
        name, sep, value = item.partition("=")
        if sep and value.isdigit():
            ports[name] = int(value)
    return ports


# --- subprocesses --------------------------------------------------------------------------------


class Child:
    """A subprocess in its own session: its stdout and stderr lines kept and written to a log."""

    def __init__(self, name: str, argv: Sequence[str], log: Path, cwd: Path = REPO) -> None:
        self.name = name
        self.log = log
        self.lines: list[str] = []  # stdout
        self.log_lines: list[str] = []  # stderr (the daemon's and simulators' logs)
        self._cond = threading.Condition()
        self._log_file = log.open("a", encoding="utf-8", buffering=1)
        env = dict(os.environ, PYTHONUNBUFFERED="1")
        self.proc = subprocess.Popen(
            list(argv),
            cwd=cwd,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            errors="replace",
            start_new_session=True,  # Ctrl-C reaches the demo only; it stops us in order
        )
        assert self.proc.stdout is not None and self.proc.stderr is not None
        self._readers = [
            threading.Thread(
                target=self._read, args=(stream, into, tag), name=f"{name} {tag}", daemon=True
            )
            for stream, into, tag in (
                (self.proc.stdout, self.lines, "stdout"),
                (self.proc.stderr, self.log_lines, "stderr"),
            )
        ]
        for reader in self._readers:
            reader.start()

    def _read(self, stream: TextIO, into: list[str], tag: str) -> None:
        for raw in stream:
            line = raw.rstrip("\n")
            with self._cond:
                into.append(line)
                if not self._log_file.closed:
                    self._log_file.write(f"[stdout] {line}\n" if tag == "stdout" else raw)
                self._cond.notify_all()
        with self._cond:
            self._cond.notify_all()

    @property
    def pid(self) -> int:
        return self.proc.pid

    @property
    def alive(self) -> bool:
        return self.proc.poll() is None

    def wait_line(self, prefix: str, timeout: float) -> str:
        """The first stdout line that begins with ``prefix``."""
        return self._wait(self.lines, lambda line: line.startswith(prefix), prefix, timeout)

    def wait_log(self, text: str, timeout: float) -> str:
        """The first log (stderr) line that contains ``text``."""
        return self._wait(self.log_lines, lambda line: text in line, text, timeout)

    def _wait(
        self, lines: list[str], match: Callable[[str], bool], what: str, timeout: float
    ) -> str:
        deadline = time.monotonic() + timeout
        seen = 0
        with self._cond:
            while True:
                for line in lines[seen:]:
                    if match(line):
                        return line
                seen = len(lines)
                left = deadline - time.monotonic()
                if not self.alive and not any(r.is_alive() for r in self._readers):
                    raise DemoError(
                        f"{self.name} exited (code {self.proc.returncode}) before "
                        f"{what!r}:\n{self.tail()}"
                    )
                if left <= 0:
                    tail = self.tail()
                    raise DemoError(f"no {what!r} from {self.name} in {timeout:.0f} s:\n{tail}")
                self._cond.wait(min(left, 0.5))

    def tail(self, n: int = 15) -> str:
        """The last lines it wrote (for error messages)."""
        with self._cond:
            lines = self.log_lines[-n:] + [f"[stdout] {line}" for line in self.lines[-3:]]
        return "\n".join(f"    {line}" for line in lines)

    def kill(self) -> None:
        """SIGKILL, and reap it."""
        if self.alive:
            self.proc.kill()
        self.proc.wait()

    def stop(self, timeout: float = 20.0) -> int:
        """SIGTERM, then SIGKILL if it does not end within ``timeout``; the exit code."""
        if self.alive:
            self.proc.terminate()
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        for reader in self._readers:
            reader.join(2.0)
        with self._cond:
            self._log_file.close()
        return self.proc.returncode

    def __enter__(self) -> Child:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def start_simulators(files: DemoFiles) -> tuple[Child, dict[str, int]]:
    """``python -m simulators line`` on ``files.sim_config``; returns it and its bound ports."""
    argv = [sys.executable, "-m", "simulators", "line", "--config", str(files.sim_config),
            "--print-log", str(files.print_log), "--case-log", str(files.case_log)]  # fmt: skip
    child = Child("simulated line", argv, files.sim_log)
    try:
        ready = child.wait_line(READY, timeout=60)
    except BaseException:
        child.stop()
        raise
    return child, parse_ports(ready)


def start_daemon(files: DemoFiles, timeout: float = 60.0) -> Child:
    """``linectl run`` on ``files.config``, once it says it is ready."""
    argv = [sys.executable, "-m", "linectl.cli", "run", "--config", str(files.config)]
    child = Child("daemon", argv, files.daemon_log)
    try:
        child.wait_line("linectl ready:", timeout=timeout)
    except BaseException:
        child.stop()
        raise
    return child


def control_client(config: Path, token: Path | None = None) -> ControlClient:
    """A control API client for the daemon of ``config``, as the machine account whose API
    token is in ``token`` (default: ``USER.token`` beside the configuration)."""
    line = load_config(config)
    token = token or config.parent / f"{USER}.token"
    return ControlClient.from_token_file(Endpoint.from_config(line.control), token)
