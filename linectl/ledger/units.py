"""Packs on the line: a verdict per Encoded serial becomes a unit row and a state change."""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence

from drivers.interfaces import Verdict
from linectl.ledger.errors import ValidationError
from linectl.ledger.models import Unit, UnitResult, verdict_of, verdict_text
from linectl.ledger.seals import unit_seal
from linectl.ledger.serials import SerialRow
from linectl.ledger.states import SerialState
from linectl.ledger.unit_tags import check_tags, insert_tags, load_tag

Move = tuple[SerialRow, SerialState, str]


def verdict_moves(units: Sequence[UnitResult], rows: Sequence[SerialRow]) -> list[Move]:
    """GOOD -> Commissioned, REJECT -> LabelScrapped (a reject must say why); validates units."""
    check_tags(units)
    moves: list[Move] = []
    for index, (unit, row) in enumerate(zip(units, rows, strict=True)):
        verdict = verdict_of(unit.verdict)
        if verdict is None:
            raise ValidationError(
                "must be good or reject", field="verdict", value=unit.verdict, index=index
            )
        if isinstance(unit.seq, bool) or not isinstance(unit.seq, int) or unit.seq < 0:
            raise ValidationError(
                "must be an integer >= 0", field="seq", value=unit.seq, index=index
            )
        for name in ("grade", "reason", "printed_at", "verdict_at"):
            value = getattr(unit, name)
            if value is not None and not isinstance(value, str):
                raise ValidationError("must be text or None", field=name, value=value, index=index)
        if verdict is Verdict.GOOD:
            moves.append((row, SerialState.COMMISSIONED, f"verified good (seq {unit.seq})"))
            continue
        if not unit.reason or not unit.reason.strip():
            raise ValidationError(
                "a reject needs a reason code", field="reason", value=unit.reason, index=index
            )
        reason = f"rejected: {unit.reason} (seq {unit.seq})"
        moves.append((row, SerialState.LABEL_SCRAPPED, reason))
    return moves


def insert_units(
    conn: sqlite3.Connection, units: Sequence[UnitResult], rows: Sequence[SerialRow], at: str
) -> None:
    """Store one sealed unit row per judged serial (a serial is judged once: it is printed once)."""
    values = []
    for unit, row in zip(units, rows, strict=True):
        recorded = verdict_of(unit.verdict)
        assert recorded is not None  # verdict_moves checked every unit
        verdict, verdict_at = verdict_text(recorded), unit.verdict_at or at
        seal = unit_seal(
            row.id, unit.seq, verdict, unit.grade, unit.reason, unit.printed_at, verdict_at, None
        )
        values.append(
            (row.id, unit.seq, verdict, unit.grade, unit.reason, unit.printed_at, verdict_at, seal)
        )
    conn.executemany(
        "INSERT INTO units "
        "(serial_id, seq, verdict, grade, reason, printed_at, verdict_at, row_hash) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        values,
    )
    insert_tags(conn, units, rows)


def load_unit(conn: sqlite3.Connection, row: SerialRow) -> Unit | None:
    """The unit recorded for a serial, if it was judged."""
    raw = conn.execute(
        "SELECT seq, verdict, grade, reason, printed_at, verdict_at, container "
        "FROM units WHERE serial_id = ?",
        (row.id,),
    ).fetchone()
    if raw is None:
        return None
    seq, verdict, grade, reason, printed_at, verdict_at, container = raw
    return Unit(
        gtin=row.gtin,
        serial=row.serial,
        seq=seq,
        verdict=_stored(verdict),
        grade=grade,
        reason=reason,
        printed_at=printed_at,
        verdict_at=verdict_at,
        container=container,
        tag=load_tag(conn, row.id),
    )


def _stored(text: str) -> Verdict:
    """The verdict a units row holds (its CHECK allows only good and reject)."""
    verdict = verdict_of(text)
    if verdict is None:
        raise ValueError(f"units.verdict {text!r} is neither good nor reject")
    return verdict
