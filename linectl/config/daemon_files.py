"""Files and sockets the daemon will need, checked when it reads its configuration.

``linectl run`` calls :func:`check_daemon_files` right after loading the file, before the
ledger or any device: a missing password file, an unusable control socket path or a security
string naming absent certificates (of the pool-manager link or of an OPC UA PLC's ``options``) is
a configuration error (exit 2, which systemd does not
retry) rather than a failure after the devices were tried. Other commands (``status`` as an
operator) do not need these files and do not check them.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

from linectl.config.file import ConfigError, LineConfig
from linectl.config.upstream import security_files

UNIX_PATH_MAX = 107
"""Bytes of a Unix socket path (sun_path holds 108, with the NUL)."""


def check_daemon_files(config: LineConfig, source: Path | str) -> None:
    """ConfigError listing every referenced file or socket path that cannot be used."""
    problems: list[str] = []
    provisioning = config.upstream.provisioning if config.upstream else None
    if provisioning is not None:
        where = "upstream.provisioning"
        if provisioning.password_file is not None:
            problems += _readable(f"{where}.password_file", provisioning.password_file)
        if provisioning.security:
            for role, path in security_files(provisioning.security):
                problems += _readable(f"{where}.security ({role})", path)
    for name, device in config.devices.items():
        problems += _opcua_files(f"devices.{name}.options", device.protocol, device.options)
    if config.control.unix_socket is not None:
        problems += _socket_path("control.unix_socket", config.control.unix_socket)
    if problems:
        raise ConfigError(source, problems)


def _opcua_files(where: str, protocol: str, options: dict[str, object]) -> list[str]:
    """The certificate, key and password files an OPC UA device's options name."""
    if protocol != "opcua":
        return []
    problems: list[str] = []
    security, password_file = options.get("security"), options.get("password_file")
    if isinstance(security, str) and security:
        try:
            named = security_files(security)
        except ValueError as exc:
            return [f"{where}.security: {exc}"]
        for role, path in named:
            problems += _readable(f"{where}.security ({role})", path)
    if isinstance(password_file, str) and password_file:
        problems += _readable(f"{where}.password_file", Path(password_file))
    return problems


def _readable(field: str, path: Path) -> list[str]:
    try:
        info = os.stat(path)
    except OSError as exc:
        return [f"{field}: {path}: {exc.strerror}"]
    if not stat.S_ISREG(info.st_mode):
        return [f"{field}: {path} is not a regular file"]
    if not os.access(path, os.R_OK):
        return [f"{field}: {path} cannot be read by this user"]
    if info.st_size == 0:
        return [f"{field}: {path} is empty"]
    return []


def _socket_path(field: str, path: Path) -> list[str]:
    size = len(os.fsencode(path))
    if size > UNIX_PATH_MAX:
        return [f"{field}: {path} is {size} bytes long; a Unix socket path has at most "
                f"{UNIX_PATH_MAX}: choose a shorter one"]  # fmt: skip
    if path.exists() and not path.is_socket():
        return [f"{field}: {path} exists and is not a socket: linectl will not replace it"]
    for folder in (path.parent, *path.parent.parents):  # the nearest existing ancestor
        if folder.exists():
            if not folder.is_dir():
                return [f"{field}: {folder} is not a directory"]
            if not os.access(folder, os.W_OK | os.X_OK):
                return [f"{field}: the socket cannot be created in {folder} (no write access)"]
            return []
    return []
