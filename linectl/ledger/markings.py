"""What a batch's packs are marked with: its market code profile and code fields (schema v8),
and the serial space of its GTIN (how many serials it holds, which of a list it holds already).

A work order without a row in ``work_order_codes`` is marked the way the line's ``code_form``
says (AIs 01 17 10 21). A row is written with the work order, in the same transaction
(:meth:`linectl.ledger.Ledger.create_work_order`), and sealed; a row whose seal does not match
is refused when read, so the line never marks a code from an edited row.
"""

from __future__ import annotations

import hashlib
import json
import re
import sqlite3
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from linectl.ledger.connection import LedgerConnection
from linectl.ledger.errors import LedgerError, ValidationError
from linectl.ledger.validation import check_gtin
from standards.gs1.ai import AI_TABLE, validate_value
from standards.gs1.errors import Gs1Error

ORDER_AIS = frozenset({"00", "01", "10", "17", "21"})
"""AIs a code field may not set: the work order and the line fill these in."""
_PROFILE_NAME = re.compile(r"^[a-z0-9][a-z0-9-]{0,31}$")
_CHUNK = 500


@dataclass(frozen=True)
class WorkOrderCode:
    """A batch's code profile ("" for none) and its code fields (AI -> value)."""

    code_profile: str = ""
    code_fields: Mapping[str, str] = field(default_factory=dict)

    def fields_json(self) -> str:
        return json.dumps(dict(self.code_fields), sort_keys=True, separators=(",", ":"))

    def summary(self) -> dict[str, object]:
        """For the audit trail; empty when there is no profile."""
        if not self.code_profile:
            return {}
        return {"code_profile": self.code_profile, "code_fields": dict(self.code_fields)}


def checked_code(code_profile: str, code_fields: Mapping[str, str] | None) -> WorkOrderCode:
    """A valid WorkOrderCode, else ValidationError naming the field: the profile spelt as the
    configuration spells names, each field an AI of linectl's table other than those of
    :data:`ORDER_AIS` with a value valid for it, fields only with a profile."""
    if code_profile and not _PROFILE_NAME.match(code_profile):
        raise ValidationError(
            "lower-case letters, digits and '-', up to 32 (e.g. de-pzn)",
            field="code_profile",
            value=code_profile,
        )
    checked: dict[str, str] = {}
    for ai, value in dict(code_fields or {}).items():
        if ai in ORDER_AIS or ai not in AI_TABLE:
            allowed = ", ".join(a for a in AI_TABLE if a not in ORDER_AIS)
            raise ValidationError(
                f"not an AI a code field may set (allowed: {allowed})", field="code_fields",
                value=ai,
            )  # fmt: skip
        try:
            checked[ai] = validate_value(ai, value)
        except Gs1Error as exc:
            raise ValidationError(str(exc), field=f"code_fields.{ai}", value=value) from None
    if checked and not code_profile:
        raise ValidationError(
            "code fields need a code profile that marks them", field="code_profile", value=""
        )
    return WorkOrderCode(code_profile, checked)


def _seal(batch: str, code: WorkOrderCode) -> str:
    fields = code.fields_json()
    text = (
        f"work_order_codes/1|{len(batch)}:{batch}|{len(code.code_profile)}:{code.code_profile}|"
        f"{len(fields)}:{fields}"
    )
    return hashlib.sha256(text.encode()).hexdigest()


def insert_code(conn: sqlite3.Connection, batch: str, code: WorkOrderCode) -> None:
    """Store ``batch``'s code (inside the caller's transaction); nothing for no profile."""
    if not code.code_profile:
        return
    conn.execute(
        "INSERT INTO work_order_codes (batch, code_profile, code_fields, row_hash) "
        "VALUES (?, ?, ?, ?)",
        (batch, code.code_profile, code.fields_json(), _seal(batch, code)),
    )


class Markings:
    """Reads of a batch's code and of a GTIN's serial space."""

    def __init__(self, db: LedgerConnection) -> None:
        self._db = db

    def code_of(self, batch: str) -> WorkOrderCode:
        """``batch``'s code profile and fields (empty: none); LedgerError if the row was edited."""
        with self._db.read() as conn:
            row = conn.execute(
                "SELECT code_profile, code_fields, row_hash FROM work_order_codes WHERE batch = ?",
                (batch,),
            ).fetchone()
        if row is None:
            return WorkOrderCode()
        code = WorkOrderCode(str(row[0]), json.loads(str(row[1])))
        if _seal(batch, code) != row[2]:
            raise LedgerError(
                f"work_order_codes row of batch {batch} does not match its seal (edited behind "
                "linectl's back?): the line will not mark codes from it"
            )
        return code

    def serial_count(self, gtin: str) -> int:
        """Serials the ledger holds for ``gtin``, in any batch and state."""
        gtin = check_gtin(gtin)
        with self._db.read() as conn:
            row = conn.execute("SELECT count(*) FROM serials WHERE gtin = ?", (gtin,)).fetchone()
        return int(row[0])

    def held(self, gtin: str, serials: Sequence[str]) -> set[str]:
        """Those of ``serials`` the ledger already holds for ``gtin`` (any batch or state)."""
        gtin = check_gtin(gtin)
        found: set[str] = set()
        with self._db.read() as conn:
            for start in range(0, len(serials), _CHUNK):
                chunk = list(serials[start : start + _CHUNK])
                marks = ",".join("?" * len(chunk))
                rows = conn.execute(
                    f"SELECT serial FROM serials WHERE gtin = ? AND serial IN ({marks})",
                    (gtin, *chunk),
                )
                found.update(str(r[0]) for r in rows)
        return found
