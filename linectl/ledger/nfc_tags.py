"""NFC tag UIDs per unit, imported from the label supplier that encoded the tags (schema v10).

A line that cannot encode NFC tags leaves them to the label supplier: linectl exports each
commissioned unit's Digital Link as an NDEF message (``linectl tags ndef``), the supplier encodes
one tag per unit and returns the tags' UIDs per serial, and ``linectl tags import`` records them
here, all rows or none, with one audit row. A UID (ISO/IEC 14443-3: 4, 7 or 10 bytes) belongs
to one unit and a unit has one tag. Each row carries its own seal (``nfc_tags/1``), checked on
every read, so a UID edited behind linectl's back shows.
"""

from __future__ import annotations

import csv
import io
import re
import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from linectl.ledger.audit import append_audit, summarise
from linectl.ledger.connection import LedgerConnection, check_actor
from linectl.ledger.errors import LedgerError, ValidationError, ValidationErrors
from linectl.ledger.seals import nfc_tag_seal
from linectl.ledger.states import SerialState

UID_BYTES = (4, 7, 10)
"""The UID sizes of ISO/IEC 14443-3 (single, double, triple size); NFC Forum tags use these."""

_HEX = re.compile(r"^[0-9A-F]+$")
_TAGGED = (SerialState.COMMISSIONED, SerialState.RELEASED)
"""The states a unit may get a tag UID in: on a good pack, before or after release."""


@dataclass(frozen=True)
class UidRow:
    """One row of a supplier's file: its 1-based line, the serial, the UID as written."""

    line: int
    serial: str
    uid: str


@dataclass(frozen=True)
class UidImport:
    """What an import recorded."""

    imported: int
    audit_id: int


def read_uid_file(path: Path) -> list[UidRow]:
    """The rows of a CSV file with the columns ``serial`` and ``uid`` (others are ignored)."""
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise LedgerError(f"tag file {path}: cannot be read: {exc}") from None
    reader = csv.DictReader(io.StringIO(text, newline=""))
    missing = {"serial", "uid"} - set(reader.fieldnames or ())
    if missing:
        raise LedgerError(
            f"tag file {path}, line 1: the header needs the columns serial and uid "
            f"(missing: {', '.join(sorted(missing))})"
        )
    try:
        return [
            UidRow(
                reader.line_num, (row.get("serial") or "").strip(), (row.get("uid") or "").strip()
            )
            for row in reader
        ]
    except csv.Error as exc:
        raise LedgerError(f"tag file {path}, line {reader.line_num + 1}: not CSV: {exc}") from None


def normal_uid(uid: str) -> str:
    """A UID as upper-case hex without separators (``04:A2:...`` and ``04a2...`` alike)."""
    return uid.replace(":", "").replace(" ", "").replace("-", "").upper()


class NfcTags:
    """The NFC tag UIDs recorded with units."""

    def __init__(self, db: LedgerConnection) -> None:
        self._db = db

    def import_uids(
        self, batch: str, rows: Sequence[UidRow], *, actor: str, source: str, reason: str = ""
    ) -> UidImport:
        """Record every row's UID with its unit of ``batch``, or none: each bad row is named."""
        check_actor(actor)
        if not rows:
            raise LedgerError(f"{source}: no rows")
        with self._db.write() as conn:
            errors, values = self._check(conn, batch, rows, source)
            if errors:
                raise ValidationErrors(errors) if len(errors) > 1 else errors[0]
            entry = append_audit(
                conn,
                at=self._db.now(),
                actor=actor,
                command="tags.import",
                reason=reason,
                before=None,
                after={
                    "batch": batch,
                    "source": source,
                    "tags": len(values),
                    "serials": summarise([serial for serial, _, _ in values], "serials"),
                },
            )
            conn.executemany(
                "INSERT INTO nfc_tags (serial_id, uid, audit_id, row_hash) VALUES (?, ?, ?, ?)",
                [(sid, uid, entry.id, nfc_tag_seal(sid, uid, entry.id)) for _, sid, uid in values],
            )
        return UidImport(len(values), entry.id)

    def _check(
        self, conn: sqlite3.Connection, batch: str, rows: Sequence[UidRow], source: str
    ) -> tuple[list[ValidationError], list[tuple[str, int, str]]]:
        """(errors naming file, line and column; (serial, serial id, UID) of the good rows)."""
        known = conn.execute("SELECT 1 FROM work_orders WHERE batch = ?", (batch,)).fetchone()
        if known is None:
            raise LedgerError(f"batch {batch!r} is not in the ledger")
        errors: list[ValidationError] = []
        values: list[tuple[str, int, str]] = []
        seen_uid: dict[str, int] = {}
        seen_serial: dict[str, int] = {}

        def bad(row: UidRow, column: str, value: str, message: str) -> None:
            errors.append(
                ValidationError(message, field=f"{source} line {row.line}, {column}", value=value)
            )

        for row in rows:
            uid = normal_uid(row.uid)
            if not _HEX.match(uid) or len(uid) % 2 or len(uid) // 2 not in UID_BYTES:
                bad(row, "uid", row.uid, "not a 4, 7 or 10 byte UID in hex")
                continue
            if uid in seen_uid:
                bad(row, "uid", row.uid, f"given for another serial on line {seen_uid[uid]}")
                continue
            seen_uid[uid] = row.line
            if row.serial in seen_serial:
                bad(row, "serial", row.serial, f"given before on line {seen_serial[row.serial]}")
                continue
            seen_serial[row.serial] = row.line
            found = conn.execute(
                "SELECT id, state FROM serials WHERE batch = ? AND serial = ?", (batch, row.serial)
            ).fetchone()
            if found is None:
                bad(row, "serial", row.serial, f"not a serial of batch {batch}")
                continue
            if SerialState(found[1]) not in _TAGGED:
                state = SerialState(found[1]).name.lower()
                bad(row, "serial", row.serial, f"is {state}: only commissioned units get a tag")
                continue
            held = conn.execute(
                "SELECT s.serial FROM nfc_tags AS t JOIN serials AS s ON s.id = t.serial_id "
                "WHERE t.uid = ? OR t.serial_id = ?",
                (uid, found[0]),
            ).fetchone()
            if held is not None:
                if held[0] == row.serial:
                    bad(row, "serial", row.serial, "has a tag already")
                else:
                    bad(row, "uid", row.uid, f"is on serial {held[0]} already")
                continue
            values.append((row.serial, int(found[0]), uid))
        return errors, values

    def uid_of(self, serial: str, gtin: str) -> str | None:
        """The NFC tag UID recorded for a unit (None: none); LedgerError if the row was edited."""
        with self._db.read() as conn:
            row = conn.execute(
                "SELECT t.serial_id, t.uid, t.audit_id, t.row_hash FROM nfc_tags AS t "
                "JOIN serials AS s ON s.id = t.serial_id WHERE s.serial = ? AND s.gtin = ?",
                (serial, gtin),
            ).fetchone()
        if row is None:
            return None
        if nfc_tag_seal(int(row[0]), str(row[1]), int(row[2])) != row[3]:
            raise LedgerError(
                f"nfc_tags row {row[0]} does not match its seal (edited behind linectl's back?)"
            )
        return str(row[1])
