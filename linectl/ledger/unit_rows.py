"""A batch's judged packs by PLC seq, read from a ledger file over a read-only connection.

The demo and bench harness checks them against the simulators' ground truth after the daemon
has stopped; read-only, so the check never migrates, locks for writing or changes the file.
"""

from __future__ import annotations

import os
import sqlite3
from dataclasses import dataclass
from pathlib import Path

from linectl.ledger.errors import LedgerError


@dataclass(frozen=True, slots=True)
class UnitRow:
    """What the ledger holds for one judged pack: its seq, serial, verdict and reject reason."""

    seq: int
    serial: str
    verdict: str
    reason: str | None


def batch_unit_rows(path: str | os.PathLike[str], batch: str) -> dict[int, UnitRow]:
    """seq -> the unit the ledger at ``path`` recorded for that pack in ``batch``."""
    uri = Path(path).absolute().as_uri() + "?mode=ro"
    try:
        conn = sqlite3.connect(uri, uri=True)
        try:
            rows = conn.execute(
                "SELECT u.seq, s.serial, u.verdict, u.reason FROM units AS u "
                "JOIN serials AS s ON s.id = u.serial_id WHERE s.batch = ?",
                (batch,),
            ).fetchall()
        finally:
            conn.close()
    except sqlite3.Error as exc:
        raise LedgerError(f"ledger {os.fspath(path)}: cannot read the units: {exc}") from exc
    return {int(seq): UnitRow(int(seq), str(s), str(v), r) for seq, s, v, r in rows}
