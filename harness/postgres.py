"""A throwaway PostgreSQL server from Debian's ``postgresql`` package, for tests and benchmarks.

``initdb`` and ``pg_ctl`` run in a temporary directory on a free local port (as the
``postgres`` user when the tests run as root, since PostgreSQL refuses to run as root), trust
authentication on 127.0.0.1 only; the directory is removed afterwards, unless the caller
names a ``directory`` to keep (a benchmark reusing a loaded database): it is created on first use,
reused after, and the server in it is stopped but not deleted. The tests run it with
``fsync = off`` (nothing they write must survive a crash); a benchmark of durable commits passes
``fsync=True`` (``fsync`` and ``synchronous_commit`` on: the server's defaults, as in production).
"""

from __future__ import annotations

import contextlib
import glob
import os
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

INSTALL_HINT = (
    "PostgreSQL server binaries not found under /usr/lib/postgresql/*/bin: install Debian's "
    "'postgresql' package (.ci/run installs it when missing)"
)


@dataclass(frozen=True)
class PostgresServer:
    port: int
    user: str

    def url(self, database: str) -> str:
        return f"postgresql://{self.user}@127.0.0.1:{self.port}/{database}"


def _bin_dir() -> Path:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    if not found:
        raise RuntimeError(INSTALL_HINT)
    return Path(found[-1]).parent


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _as_server_user(argv: list[str]) -> list[str]:
    if os.geteuid() != 0:
        return argv
    return ["runuser", "-u", "postgres", "--", *argv]


@contextlib.contextmanager
def postgres_server(
    directory: Path | None = None,
    *,
    fsync: bool = False,
    settings: Mapping[str, str] | None = None,
) -> Iterator[PostgresServer]:
    """Start a server, yield it, stop it and delete its directory (kept if ``directory``).

    ``fsync``: commits are flushed to disk (the server's default); off for the tests.
    ``settings``: more server parameters (``shared_buffers``, ``max_wal_size``, ...).
    """
    bin_dir = _bin_dir()
    root = Path(tempfile.mkdtemp(prefix="linectl-pg-")) if directory is None else directory
    root.mkdir(parents=True, exist_ok=True)
    data = root / "data"
    if os.geteuid() == 0:
        shutil.chown(root, "postgres", "postgres")
    port = _free_port()
    user = "resolver"
    log = root / "server.log"
    try:
        if not (data / "PG_VERSION").exists():
            subprocess.run(
                _as_server_user([str(bin_dir / "initdb"), "-D", str(data), "-U", user,
                                 "--auth=trust", "-E", "UTF8", "--no-sync"]),
                check=True, capture_output=True, timeout=120,
            )  # fmt: skip
        durable = "-c fsync=on -c synchronous_commit=on" if fsync else "-c fsync=off"
        more = "".join(f" -c {name}={value}" for name, value in (settings or {}).items())
        options = f"-p {port} -k {root} -c listen_addresses=127.0.0.1 {durable}{more}"
        subprocess.run(
            _as_server_user([str(bin_dir / "pg_ctl"), "-D", str(data), "-o", options,
                             "-l", str(log), "-w", "-t", "60", "start"]),
            check=True, capture_output=True, timeout=90,
        )  # fmt: skip
        yield PostgresServer(port, user)
    except subprocess.CalledProcessError as exc:
        text = log.read_text() if log.exists() else ""
        raise RuntimeError(f"PostgreSQL did not start: {exc.stderr!r} {text}") from exc
    finally:
        if (data / "postmaster.pid").exists():
            subprocess.run(
                _as_server_user([str(bin_dir / "pg_ctl"), "-D", str(data), "-m",
                                 "immediate" if directory is None else "fast", "-w", "stop"]),
                capture_output=True, timeout=60,
            )  # fmt: skip
        if directory is None:
            shutil.rmtree(root, ignore_errors=True)
