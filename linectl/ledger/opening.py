"""Opening a ledger file by its path: only ``linectl ledger init`` creates one.

Every other command, and the daemon, refuses a path that is not a linectl ledger (missing, a
directory, an empty file, not SQLite, another application's SQLite database) before SQLite
touches it, so such a file stays byte-for-byte unchanged: opening it as a ledger would switch
it to WAL and add the ledger's tables. The check reads the 100-byte SQLite header and, for an
SQLite file, its table list through a read-only connection. ``damage_named`` turns SQLite's
own errors from a damaged file (corrupt pages) into a LedgerError that names the file.
"""

from __future__ import annotations

import os
import sqlite3
import stat
from pathlib import Path
from typing import Any
from urllib.parse import quote

from linectl.ledger.damage import LedgerDamaged, damage_named
from linectl.ledger.errors import LedgerError
from linectl.ledger.store import Ledger

__all__ = ["LedgerDamaged", "NotALedger", "create_ledger", "damage_named", "open_ledger"]

_MAGIC = b"SQLite format 3\x00"
_LEDGER_TABLES = frozenset({"work_orders", "serials", "serial_history", "audit"})
_INIT = "'linectl ledger init' creates a new ledger"


class NotALedger(LedgerError):
    """The path names no linectl ledger; the message says what is there and what to do."""

    def __init__(self, path: str | os.PathLike[str], what: str, todo: str) -> None:
        self.path = os.fspath(path)
        super().__init__(f"ledger {self.path}: {what}; {todo}")


def open_ledger(path: str | os.PathLike[str], **options: Any) -> Ledger:
    """Open an existing linectl ledger; NotALedger (nothing touched) for anything else."""
    check_ledger_file(path)
    with damage_named(path):
        return Ledger(path, **options)


def create_ledger(path: str | os.PathLike[str], **options: Any) -> Ledger:
    """Create the ledger (and its directory), or open and migrate an existing one.

    Refuses a directory and a non-empty file that is not a linectl ledger; an empty file or
    an SQLite database without any table becomes a new ledger.
    """
    target = Path(path)
    if target.exists():
        check_ledger_file(target, creating=True)
    else:  # created here, 0640 at most (SQLite gives its -wal and -shm files the same mode)
        target.parent.mkdir(parents=True, exist_ok=True)
        os.close(os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o640))
    with damage_named(target):
        return Ledger(target, **options)


def check_ledger_file(path: str | os.PathLike[str], *, creating: bool = False) -> None:
    """Raise NotALedger unless ``path`` holds a linectl ledger (reads only; writes nothing).

    ``creating`` (``ledger init``) also accepts an empty file and an SQLite file with no table.
    """
    name = os.fspath(path)
    try:
        info = os.stat(name)
    except FileNotFoundError:
        folder = os.path.dirname(os.path.abspath(name))
        where = "" if os.path.isdir(folder) else f" (and its directory {folder} does not exist)"
        raise NotALedger(
            name,
            f"no such file{where}",
            f"check the path ([ledger] path in the configuration, or --ledger); {_INIT}",
        ) from None
    except OSError as exc:
        raise NotALedger(name, f"cannot be read ({exc.strerror})", "check the path") from None
    if stat.S_ISDIR(info.st_mode):
        raise NotALedger(
            name, "is a directory, not a ledger file", "name the ledger file inside it"
        )
    if not stat.S_ISREG(info.st_mode):
        raise NotALedger(name, "is not a regular file", "name the ledger file")
    if info.st_size == 0:
        if creating:
            return
        raise NotALedger(name, "is an empty file, not a linectl ledger", f"check the path; {_INIT}")
    try:
        with open(name, "rb") as file:
            header = file.read(100)
    except OSError as exc:
        raise NotALedger(
            name, f"cannot be read ({exc.strerror})", "check its permissions"
        ) from None
    if not header.startswith(_MAGIC):
        raise NotALedger(
            name,
            f"is not an SQLite file (it starts with {header[:16]!r})",
            f"check the path: this file was left unchanged; {_INIT}",
        )
    tables = _tables(name, wal=header[18:20] == b"\x02\x02" and _wal_pending(name))
    if creating and not tables:
        return
    missing = sorted(_LEDGER_TABLES - tables)
    if missing:
        shown = ", ".join(sorted(tables)[:5]) or "none"
        raise NotALedger(
            name,
            f"is an SQLite database but not a linectl ledger (tables: {shown}; missing "
            f"{', '.join(missing)})",
            f"check the path: this file was left unchanged; {_INIT} at a new path",
        )


def _wal_pending(name: str) -> bool:
    """True when a -wal file beside ``name`` holds pages not yet copied into it."""
    try:
        return os.path.getsize(f"{name}-wal") > 0
    except OSError:
        return False


def _tables(name: str, *, wal: bool) -> set[str]:
    """The table names, read without writing: read-only, and immutable unless WAL is pending.

    Pages still in a -wal file are seen only by a (read-only) WAL reader, which uses the -shm
    file beside it; everything else is read as immutable, which creates no side file at all.
    """
    mode = "mode=ro" if wal else "mode=ro&immutable=1"
    uri = f"file:{quote(os.path.abspath(name))}?{mode}"
    try:
        conn = sqlite3.connect(uri, uri=True)
    except sqlite3.Error as exc:
        raise LedgerDamaged(name, exc) from exc
    try:
        rows = conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'").fetchall()
    except sqlite3.Error as exc:
        raise LedgerDamaged(name, exc) from exc
    finally:
        conn.close()
    return {str(r[0]) for r in rows}
