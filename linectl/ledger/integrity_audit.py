"""The audit trail's side of the tamper check: what it says was created, against what is there.

``verify_audit`` tallies the audit rows that create things (work orders, containers, imported
serials, recorded verdicts and tags, stocked SSCCs, imported NFC UIDs) while it walks the chain;
``check_rows`` then calls :func:`against_audit`, which catches whole rows deleted together with
everything pointing at them.
"""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass, field


@dataclass
class AuditTally:
    """What the audit trail says was created, counted while its chain is walked."""

    work_orders: dict[str, int] = field(default_factory=dict)
    containers: dict[str, int] = field(default_factory=dict)
    imported: int = 0
    judged: int = 0
    stocked: int = 0
    tagged: int = 0  # RFID tags recorded with unit verdicts
    nfc_tagged: int = 0  # NFC tag UIDs imported
    unreadable: str | None = None

    def note(self, row_id: int, command: str, after: str) -> None:
        """Count one audit row (cheap for commands that create nothing tallied)."""
        if command not in _TALLIED:
            return
        try:
            data = json.loads(after)
            if command == "work_order.create":
                self.work_orders[str(data["batch"])] = row_id
            elif command == "containers.create":
                self.containers[str(data["change"]["sscc"])] = row_id
            elif command == "serials.import":
                self.imported += int(data["imported"]["count"])
            elif command == "sscc_stock.add":
                self.stocked += int(data["ssccs"]["count"])
            elif command == "tags.import":
                self.nfc_tagged += int(data["tags"])
            else:
                self.judged += int(data["serials"]["count"])
                self.tagged += int(data.get("tags", 0))
        except (ValueError, KeyError, TypeError) as exc:
            if self.unreadable is None:
                self.unreadable = f"audit row {row_id} ({command}): unreadable record ({exc!r})"


_TALLIED = frozenset(
    {
        "work_order.create",
        "containers.create",
        "serials.import",
        "units.record",
        "sscc_stock.add",
        "tags.import",
    }
)


def against_audit(
    conn: sqlite3.Connection, counts: dict[str, int], tally: AuditTally
) -> list[tuple[str, str]]:
    """Rows the audit trail says were created but are gone (or too many of them).

    Returns (table, problem) pairs; ``counts`` holds the rows each table has.
    """
    found: list[tuple[str, str]] = []
    if tally.unreadable:
        found.append(("audit", tally.unreadable))
    for batch, audit_id in tally.work_orders.items():
        if not conn.execute("SELECT 1 FROM work_orders WHERE batch = ?", (batch,)).fetchone():
            found.append(
                (
                    "work_orders",
                    f"work_orders: batch {batch} (created by audit row "
                    f"{audit_id}) is missing (deleted?)",
                )
            )
    for sscc, audit_id in tally.containers.items():
        if not conn.execute("SELECT 1 FROM containers WHERE sscc = ?", (sscc,)).fetchone():
            found.append(
                (
                    "containers",
                    f"containers: {sscc} (created by audit row {audit_id}) is missing (deleted?)",
                )
            )
    for table, recorded, what, command in (
        ("serials", tally.imported, "serials imported", "serials.import"),
        ("units", tally.judged, "unit verdicts", "units.record"),
        ("sscc_stock", tally.stocked, "SSCCs stocked", "sscc_stock.add"),
        ("unit_tags", tally.tagged, "RFID tags recorded", "units.record"),
        ("nfc_tags", tally.nfc_tagged, "NFC tag UIDs imported", "tags.import"),
    ):
        if counts[table] != recorded:
            example = _missing_example(conn, table, command) if counts[table] < recorded else ""
            found.append(
                (
                    table,
                    f"{table}: the audit trail records {recorded} {what} but the table holds "
                    f"{counts[table]} rows{example}",
                )
            )
    return found


def _missing_example(conn: sqlite3.Connection, table: str, command: str) -> str:
    """A serial an audit row names whose row is gone (only for rows that list their serials)."""
    if table not in ("serials", "units"):
        return " (deleted or added behind linectl's back?)"
    lookup = (
        "SELECT 1 FROM serials WHERE serial = ?"
        if table == "serials"
        else "SELECT 1 FROM units JOIN serials ON serials.id = units.serial_id WHERE serial = ?"
    )
    key = "imported" if table == "serials" else "serials"
    for audit_id, after in conn.execute(
        "SELECT id, after FROM audit WHERE command = ? ORDER BY id", (command,)
    ):
        try:
            listed = json.loads(after)[key].get("serials", [])
        except (ValueError, KeyError, AttributeError):
            continue
        for serial in listed:
            if conn.execute(lookup, (serial,)).fetchone() is None:
                return (
                    f"; e.g. serial {serial} (audit row {audit_id}) has no {table} row (deleted?)"
                )
    return " (deleted or added behind linectl's back?)"
