"""The control API's bearer token: where it lives, reading it, and creating it on first start.

Kept apart from the HTTP server so the CLI can find the token without importing aiohttp.
"""

from __future__ import annotations

import os
import secrets
import stat
from pathlib import Path

import structlog

from linectl.config import ControlSection

log = structlog.get_logger(__name__)

DEFAULT_TOKEN_NAME = "control.token"
"""File name of the generated token, next to the ledger, when no token_file is configured."""

_MIN_TOKEN_CHARS = 16
_TOKEN_BYTES = 32


class TokenError(Exception):
    """The token file cannot be used; the message names the file and what is wrong with it."""


def token_path(config: ControlSection, default_path: Path) -> Path:
    """The token file: [control].token_file if configured, else ``default_path``."""
    return config.token_file if config.token_file is not None else default_path


def read_token(path: Path) -> str:
    """Read a token file: one token on the first non-blank line, at least 16 printable chars."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise TokenError(f"token file {path} does not exist") from None
    except PermissionError:
        raise TokenError(f"cannot read token file {path}: permission denied") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise TokenError(f"cannot read token file {path}: {exc}") from None
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    if not lines:
        raise TokenError(f"token file {path} is empty")
    token = lines[0]
    if len(token) < _MIN_TOKEN_CHARS:
        raise TokenError(
            f"token file {path}: the token is {len(token)} characters long, "
            f"at least {_MIN_TOKEN_CHARS} are required"
        )
    if not all(33 <= ord(ch) <= 126 for ch in token):
        raise TokenError(f"token file {path}: the token may hold only printable ASCII, no spaces")
    return token


def _warn_if_shared(path: Path) -> None:
    try:
        mode = path.stat().st_mode
    except OSError:
        return
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        log.warning(
            "control token file is readable by other users; chmod 600 it",
            path=str(path),
            mode=oct(stat.S_IMODE(mode)),
        )


def _create(path: Path) -> str:
    token = secrets.token_urlsafe(_TOKEN_BYTES)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o600)
    try:
        os.fchmod(fd, 0o600)  # the umask may have stripped bits; make the mode exact
        os.write(fd, f"{token}\n".encode("ascii"))
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(tmp, path)
    log.info("created control API token file", path=str(path))
    return token


def load_or_create_token(config: ControlSection, default_path: Path) -> str:
    """The control API token.

    A configured ``token_file`` must exist (it was provisioned on purpose; a missing one is a
    mistake, not a reason to invent a new secret). Without one, ``default_path`` (normally
    ``<ledger dir>/control.token``) is read if present, else created with a random token, mode 0600.
    """
    if config.token_file is not None:
        token = read_token(config.token_file)
        _warn_if_shared(config.token_file)
        return token
    if default_path.exists():
        token = read_token(default_path)
        _warn_if_shared(default_path)
        return token
    try:
        return _create(default_path)
    except OSError as exc:
        raise TokenError(f"cannot create token file {default_path}: {exc.strerror}") from None
