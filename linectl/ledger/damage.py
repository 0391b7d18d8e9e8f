"""SQLite's own errors from a damaged or locked ledger file, as a LedgerError naming the file.

A corrupt page surfaces as ``sqlite3.DatabaseError`` wherever a query first reads it (``report``,
``audit verify``, the daemon's start check); :func:`damage_named` turns it into one clear error
with what to do, so no command shows a traceback for it.
"""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from linectl.ledger.errors import LedgerError

PathLike = str | os.PathLike[str]


class LedgerDamaged(LedgerError):
    """SQLite found the file damaged (corrupt pages, truncated) or could not read it."""

    def __init__(self, path: str | os.PathLike[str], cause: sqlite3.Error) -> None:
        self.path = os.fspath(path)
        text = str(cause)
        if isinstance(cause, sqlite3.OperationalError) and "locked" in text:
            todo = "another process holds it: wait, or stop it and try again"
        elif isinstance(cause, sqlite3.IntegrityError | sqlite3.ProgrammingError):
            todo = "the command was refused and changed nothing (a linectl bug: please report it)"
        else:
            todo = (
                "the file is damaged: stop the line, keep this file for analysis and restore "
                "the last backup ('sqlite3 FILE \"PRAGMA integrity_check\"' lists the damage)"
            )
        super().__init__(f"ledger {self.path}: SQLite says {text!r}; {todo}")


@contextmanager
def damage_named(path: PathLike | Callable[[], PathLike]) -> Iterator[None]:
    """Re-raise SQLite's errors (a damaged or locked file) as LedgerDamaged naming the file.

    ``path`` may be a callable, asked only when an error comes (the CLI learns its ledger's
    path while the command runs).
    """
    try:
        yield
    except sqlite3.Error as exc:
        raise LedgerDamaged(path() if callable(path) else path, exc) from exc
