"""Files that hold secrets outside the ledger: the audit key, and the CLI's session token.

Both are written 0600 (exact mode, whatever the umask), atomically, and never logged. The audit
key defaults to ``audit.key`` beside the ledger file, or a systemd credential ``audit-key``
($CREDENTIALS_DIRECTORY); ``[identity] audit_key_file`` names another place (better: a
directory the service user alone may read, not the one holding the ledger).
"""

from __future__ import annotations

import hashlib
import os
import secrets
import stat
from pathlib import Path

from linectl.config import IdentitySection
from linectl.identity.errors import IdentityError

KEY_BYTES = 32
KEY_FILE_NAME = "audit.key"
CREDENTIAL_NAME = "audit-key"


class KeyFileError(IdentityError):
    """A key or session file cannot be used; the message names the file and the problem."""

    reason = "key-file"


def audit_key_path(policy: IdentitySection, ledger_path: Path) -> Path:
    """Where the audit key is: configured, a systemd credential, or beside the ledger."""
    if policy.audit_key_file is not None:
        return policy.audit_key_file
    creds = os.environ.get("CREDENTIALS_DIRECTORY")
    if creds and (Path(creds) / CREDENTIAL_NAME).exists():
        return Path(creds) / CREDENTIAL_NAME
    return ledger_path.parent / KEY_FILE_NAME


def write_secret_file(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` with mode 0600, atomically (a temp file then rename)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o600)
    try:
        os.fchmod(fd, 0o600)
        os.write(fd, text.encode("utf-8"))
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(tmp, path)


def create_audit_key(path: Path) -> bytes:
    """A new random key in ``path`` (refused if the file exists: never replace a key)."""
    if path.exists():
        raise KeyFileError(f"audit key file {path} exists already; it is never replaced")
    key = secrets.token_bytes(KEY_BYTES)
    write_secret_file(path, key.hex() + "\n")
    return key


def load_audit_key(path: Path) -> bytes | None:
    """The key in ``path``, None if there is no such file; refuses a malformed or shared file."""
    try:
        text = path.read_text(encoding="ascii").strip()
    except FileNotFoundError:
        return None
    except PermissionError:
        raise KeyFileError(
            f"cannot read the audit key {path}: permission denied (run as the service user)"
        ) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise KeyFileError(f"cannot read the audit key {path}: {exc}") from None
    try:
        key = bytes.fromhex(text)
    except ValueError:
        key = b""
    if len(key) != KEY_BYTES:
        raise KeyFileError(f"audit key {path}: expected {KEY_BYTES * 2} hex digits")
    mode = path.stat().st_mode
    if mode & (stat.S_IRWXG | stat.S_IRWXO) and not os.environ.get("CREDENTIALS_DIRECTORY"):
        raise KeyFileError(
            f"audit key {path} is readable by other users (mode {oct(stat.S_IMODE(mode))}): "
            "chmod 600 it"
        )
    return key


def session_path(policy: IdentitySection, ledger_path: Path) -> Path:
    """The CLI's session file for this ledger: one per user account and ledger."""
    base = policy.session_dir or Path(
        os.environ.get("LINECTL_SESSION_DIR") or Path.home() / ".local" / "state" / "linectl"
    )
    digest = hashlib.sha256(str(ledger_path.resolve()).encode("utf-8")).hexdigest()[:16]
    return base / f"session-{digest}"


def read_secret_file(path: Path, what: str) -> str | None:
    """The first line of a 0600 secret file, None if it does not exist."""
    try:
        text = path.read_text(encoding="utf-8").strip()
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise KeyFileError(f"cannot read the {what} {path}: {exc.strerror or exc}") from None
    mode = path.stat().st_mode
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise KeyFileError(
            f"the {what} {path} is readable by other users (mode {oct(stat.S_IMODE(mode))}): "
            "chmod 600 it"
        )
    return text.splitlines()[0] if text else None


def find_credential(token_file: str | None, policy: IdentitySection, ledger_path: Path) -> str:
    """The CLI caller's bearer secret: an API token file (--token-file, $LINECTL_TOKEN_FILE),
    else the login session of this ledger. Raises KeyFileError when there is none."""
    token_file = token_file or os.environ.get("LINECTL_TOKEN_FILE")
    if token_file:
        token = read_secret_file(Path(token_file), "API token file")
        if not token:
            raise KeyFileError(f"the API token file {token_file} does not exist or is empty")
        return token
    token = read_secret_file(session_path(policy, ledger_path), "session file")
    if not token:
        exc = KeyFileError("not logged in: run 'linectl login NAME' first")
        exc.reason = "not-logged-in"
        raise exc
    return token
