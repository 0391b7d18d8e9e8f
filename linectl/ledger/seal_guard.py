"""Seals checked where the line uses rows: the serials taken for encoding, and the ledger at start.

A serials row whose seal fails was changed behind linectl's back (a Commissioned serial set back
to Allocated with plain SQL would otherwise be printed a second time). ``sealed_in_state`` hands
out only rows whose seal matches, checking just the rows it takes, in the caller's transaction:
the cost is one sha256 per serial taken, never a scan of the table. A refused row stays where it
is (resealing it would launder the edit) and is logged once per process.

At start the daemon runs the whole check (``verify_audit``) and does not start on a failing
ledger unless an admin acknowledged exactly its current findings (``linectl audit acknowledge``,
an audit row ``ledger.acknowledge`` with the findings and the reason).
"""

from __future__ import annotations

import json
import logging
import sqlite3
from dataclasses import dataclass

from linectl.ledger.audit import AuditReport, append_audit, verify_audit
from linectl.ledger.connection import LedgerConnection, check_actor
from linectl.ledger.damage import damage_named
from linectl.ledger.errors import LedgerError, ValidationError
from linectl.ledger.seals import serial_seal
from linectl.ledger.serials import SerialRow
from linectl.ledger.states import SerialState

log = logging.getLogger("linectl.ledger")

ACKNOWLEDGE_COMMAND = "ledger.acknowledge"
"""The audit command of an admin's acknowledgement of integrity findings."""

_SELECT = (
    "SELECT id, gtin, serial, batch, state, updated_at, row_hash FROM serials "
    "WHERE batch = ? AND state = ? AND id > ? ORDER BY id LIMIT ?"
)
_logged: set[tuple[str, int]] = set()
_LOGGED_MAX = 10_000


def sealed(row: SerialRow) -> bool:
    """True when the row's stored seal matches its fields."""
    expected = serial_seal(row.id, row.gtin, row.serial, row.batch, int(row.state), row.updated_at)
    return row.row_hash == expected


def sealed_in_state(
    conn: sqlite3.Connection, batch: str, state: SerialState, limit: int, *, where: str = ""
) -> list[SerialRow]:
    """Up to ``limit`` serials of ``batch`` in ``state``, oldest first, whose seals hold.

    Rows whose seal fails are skipped (refused), and logged once; ``where`` names the ledger in
    that log line.
    """
    rows: list[SerialRow] = []
    after = 0
    while len(rows) < limit:
        page = conn.execute(_SELECT, (batch, int(state), after, limit - len(rows))).fetchall()
        if not page:
            break
        for raw in page:
            row_id, gtin, serial, row_batch, row_state, updated_at, row_hash = raw
            row = SerialRow(
                int(row_id), str(gtin), str(serial), str(row_batch), SerialState(row_state),
                str(updated_at), None if row_hash is None else str(row_hash),
            )  # fmt: skip
            after = row.id
            if sealed(row):
                rows.append(row)
            else:
                _refused(where, row)
    return rows


def _refused(where: str, row: SerialRow) -> None:
    key = (where, row.id)
    if key in _logged:
        return
    if len(_logged) < _LOGGED_MAX:
        _logged.add(key)
    log.error(
        "ledger %s: serial %s (GTIN %s, batch %s) fails its seal and is not used: it was "
        "changed outside linectl; run 'linectl audit verify'",
        where,
        row.serial,
        row.gtin,
        row.batch,
    )


class IntegrityRefused(LedgerError):
    """The ledger fails its integrity check and no admin acknowledged these findings."""


@dataclass(frozen=True)
class Acknowledgement:
    """The newest ``ledger.acknowledge`` audit row: who accepted which findings, and why."""

    audit_id: int
    at: str
    actor: str
    reason: str
    problems: tuple[str, ...]


def last_acknowledgement(conn: sqlite3.Connection) -> Acknowledgement | None:
    """The newest acknowledgement in the audit trail, or None."""
    row = conn.execute(
        "SELECT id, at, actor, reason, before FROM audit WHERE command = ? ORDER BY id DESC "
        "LIMIT 1",
        (ACKNOWLEDGE_COMMAND,),
    ).fetchone()
    if row is None:
        return None
    try:
        problems = json.loads(row[4]).get("problems", [])
    except (ValueError, AttributeError):
        problems = []
    return Acknowledgement(int(row[0]), str(row[1]), str(row[2]), str(row[3]), tuple(problems))


class Integrity:
    """``ledger.integrity``: the whole check for the daemon's start, and acknowledging findings."""

    def __init__(self, db: LedgerConnection) -> None:
        self._db = db

    def at_start(self) -> tuple[AuditReport, Acknowledgement | None]:
        """The whole check and the newest acknowledgement (None if none), in one snapshot."""
        with self._db.snapshot() as conn:
            return verify_audit(conn, key=self._db.audit_key), last_acknowledgement(conn)

    def require_for_start(self) -> Acknowledgement | None:
        """Pass when the ledger verifies or its findings were acknowledged (then return that).

        Raises IntegrityRefused listing the findings and what to do. O(rows): at start only.
        """
        with damage_named(self._db.path):
            report, ack = self.at_start()
        if report.ok:
            return None
        if ack is not None and ack.problems == report.problems:
            return ack
        lines = "\n".join(f"  {line}" for line in report.problems)
        stale = (
            f"\n(the acknowledgement by {ack.actor} at {ack.at} covers other findings)"
            if ack is not None
            else ""
        )
        raise IntegrityRefused(
            f"ledger {self._db.path} fails its integrity check, so the line does not start:\n"
            f"{lines}{stale}\nrun 'linectl audit verify' for the details, then restore the "
            "ledger from a backup, or have an admin accept exactly these findings with "
            "'linectl audit acknowledge --reason TEXT'"
        )

    def acknowledge(self, actor: str, reason: str) -> AuditReport:
        """Record that ``actor`` accepts the current findings, so the line may start on them.

        Refused without a reason; a ledger that verifies has nothing to acknowledge (no row).
        """
        check_actor(actor)
        if not reason.strip():
            raise ValidationError(
                "must say why the findings are accepted", field="reason", value=reason
            )
        with damage_named(self._db.path), self._db.snapshot() as conn:
            report = verify_audit(conn, key=self._db.audit_key)
        if not report.ok:
            with self._db.write() as conn:
                append_audit(
                    conn,
                    at=self._db.now(),
                    actor=actor,
                    command=ACKNOWLEDGE_COMMAND,
                    reason=reason,
                    before={"problems": list(report.problems)},
                    after=None,
                )
        return report
