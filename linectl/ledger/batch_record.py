"""What the batch record reads besides the reconciliation: the batch's window in the audit trail,
its alarms (with who acknowledged each) and its packaging-material lot changes.

The line writes its holding alarms to the audit trail as ``line.alarm`` rows (raised, then
``{"code": ..., "cleared": true}``) without naming the batch: the line runs one batch at a time,
so a batch's alarms are those raised between its ``work_order.start`` and ``work_order.close``
rows. An alarm is open while no clear row for its code follows its raise.
"""

from __future__ import annotations

import bisect
import json
import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from linectl.ledger.errors import UnknownWorkOrder
from linectl.ledger.states import SerialState

_S = SerialState
_ENCODED, _GOOD, _SCRAP = int(_S.ENCODED), int(_S.COMMISSIONED), int(_S.LABEL_SCRAPPED)
_VERDICTS = f"{int(_S.LABEL_SAMPLED)}, {_SCRAP}, {_GOOD}"  # what an Encoded serial becomes
_SAMPLES = f"{int(_S.LABEL_SAMPLED)}, {int(_S.SAMPLED)}"

ACKNOWLEDGING = ("unhold", "reset", "clear", "unsuspend")
"""Line commands that acknowledge (clear) alarms."""


@dataclass(frozen=True)
class AlarmRecord:
    """One alarm of a batch: raised when, cleared when and by whose command (None: still open)."""

    code: str
    message: str
    raised_at: str
    holds: bool
    cleared_at: str | None
    acknowledged_by: str | None


@dataclass(frozen=True)
class MaterialChange:
    """A packaging-material lot put on the line during a batch; ``history_mark`` is the newest
    serial-history row when it was made, so units judged after it have larger history ids."""

    id: int
    batch: str
    material: str
    lot: str
    previous: str | None
    at: str
    actor: str
    history_mark: int


def batch_window(conn: sqlite3.Connection, batch: str) -> tuple[int | None, int | None]:
    """Audit row ids of the batch's start and close (None: not started / not closed)."""
    if conn.execute("SELECT 1 FROM work_orders WHERE batch = ?", (batch,)).fetchone() is None:
        raise UnknownWorkOrder(batch)

    def row_of(command: str) -> int | None:
        row = conn.execute(
            "SELECT min(id) FROM audit WHERE command = ? AND json_extract(after, '$.batch') = ?",
            (command, batch),
        ).fetchone()
        return None if row is None or row[0] is None else int(row[0])

    return row_of("work_order.start"), row_of("work_order.close")


_RUN_ENDS = {"line.shutdown": "linectl (stopped)", "line.recovery": "linectl (restarted)"}
"""Audit rows after which no alarm of the daemon's run before is active any more: alarms live
in the daemon, and a restarted daemon raises again whatever still stands (a line left in an
active state holds with the alarm ``recovery``, for an operator to unhold)."""


def batch_alarms(conn: sqlite3.Connection, batch: str) -> list[AlarmRecord]:
    """Every alarm raised while the batch ran, oldest first, with its clear (if any): an
    operator's acknowledging command, or the end of the daemon's run (see ``_RUN_ENDS``)."""
    start, close = batch_window(conn, batch)
    if start is None:
        return []
    rows = conn.execute(
        "SELECT id, at, actor, command, before, after FROM audit "
        "WHERE id > ? AND command IN ('line.alarm', 'line.command', 'line.shutdown', "
        "'line.recovery') ORDER BY id",
        (start,),
    ).fetchall()
    found: list[AlarmRecord] = []
    open_at: dict[str, int] = {}  # code -> index into found
    waiting: list[int] = []  # cleared alarms whose acknowledging command is not seen yet
    for row_id, at, actor, command, before, after in rows:
        if command in _RUN_ENDS:
            for index in open_at.values():
                a = found[index]
                found[index] = AlarmRecord(
                    a.code, a.message, a.raised_at, a.holds, str(at), _RUN_ENDS[command]
                )
            open_at.clear()
            continue
        data = json.loads(after) if after else {}
        if command == "line.command":
            what = (json.loads(before) if before else {}).get("command")
            if what in ACKNOWLEDGING and waiting:
                for index in waiting:
                    a = found[index]
                    found[index] = AlarmRecord(
                        a.code, a.message, a.raised_at, a.holds, a.cleared_at, str(actor)
                    )
                waiting = []
            continue
        code = str(data.get("code", ""))
        if data.get("cleared"):
            index = open_at.pop(code, -1)
            if index >= 0:
                a = found[index]
                found[index] = AlarmRecord(a.code, a.message, a.raised_at, a.holds, str(at), None)
                waiting.append(index)
        elif (close is None or int(row_id) < close) and code not in open_at:
            open_at[code] = len(found)
            found.append(
                AlarmRecord(
                    code,
                    str(data.get("message", "")),
                    str(data.get("since") or at),
                    bool(data.get("holds", False)),
                    None,
                    None,
                )
            )
    return found


def material_changes(conn: sqlite3.Connection, batch: str) -> list[MaterialChange]:
    """The batch's material lot changes, oldest first."""
    rows = conn.execute(
        "SELECT id, batch, material, lot, previous, at, actor, history_mark "
        "FROM material_changes WHERE batch = ? ORDER BY id",
        (batch,),
    )
    return [
        MaterialChange(
            int(r[0]),
            str(r[1]),
            str(r[2]),
            str(r[3]),
            None if r[4] is None else str(r[4]),
            str(r[5]),
            str(r[6]),
            int(r[7]),
        )
        for r in rows
    ]


@dataclass(frozen=True)
class MaterialSpan:
    """A lot of one material and the units judged while it was on the line."""

    material: str
    lot: str
    since: str | None  # None: from the batch's start (the work order's lot)
    by: str | None
    units: int


@dataclass(frozen=True)
class Minute:
    """Units judged in one minute of the batch (UTC ``YYYY-MM-DDTHH:MM``)."""

    minute: str
    good: int
    rejects: int


@dataclass(frozen=True)
class RecordEntry:
    """A row of the batch record taken from the audit trail or a serial's history."""

    at: str
    actor: str
    what: str
    reason: str


def reject_counts(conn: sqlite3.Connection, batch: str) -> dict[str, int]:
    """Scrapped serials of a batch by reason: a unit's reject reason, else (a serial lost in a
    crash, a cancelled job) the reason of its move to LabelScrapped."""
    counts: dict[str, int] = {}
    rows = conn.execute(
        "SELECT coalesce(u.reason, h.reason), count(*) FROM serials AS s "
        "JOIN serial_history AS h ON h.serial_id = s.id AND h.to_state = s.state "
        "LEFT JOIN units AS u ON u.serial_id = s.id "
        "WHERE s.batch = ? AND s.state = ? GROUP BY 1",
        (batch, _SCRAP),
    ).fetchall()
    for reason, count in rows:
        key = str(reason or "unknown")
        counts[key] = counts.get(key, 0) + int(count)
    return counts


def _judged_between(conn: sqlite3.Connection, batch: str, after: int, upto: int | None) -> int:
    """Units of the batch judged (Encoded -> verdict) with history ids in (after, upto]."""
    row = conn.execute(
        "SELECT count(*) FROM serial_history AS h JOIN serials AS s ON s.id = h.serial_id "
        f"WHERE s.batch = ? AND h.from_state = {_ENCODED} AND h.to_state IN ({_VERDICTS}) "
        "AND h.id > ? AND (? IS NULL OR h.id <= ?)",
        (batch, after, upto, upto),
    ).fetchone()
    return int(row[0])


def material_spans(
    conn: sqlite3.Connection, batch: str, initial: dict[str, str]
) -> list[MaterialSpan]:
    """Each material lot of the batch with the units it covers: the work order's first lots,
    then every change, each until the next change of the same material."""
    changes = material_changes(conn, batch)
    first = dict(initial)
    for c in reversed(changes):  # the lots before the first change of each material
        if c.previous is None:
            first.pop(c.material, None)
        else:
            first[c.material] = c.previous
    names = sorted(set(first) | {c.material for c in changes})
    spans: list[MaterialSpan] = []
    for name in names:
        mine = [c for c in changes if c.material == name]
        marks = [c.history_mark for c in mine]
        if name in first:
            upto = marks[0] if marks else None
            spans.append(
                MaterialSpan(name, first[name], None, None, _judged_between(conn, batch, 0, upto))
            )
        for i, c in enumerate(mine):
            upto = marks[i + 1] if i + 1 < len(marks) else None
            units = _judged_between(conn, batch, c.history_mark, upto)
            spans.append(MaterialSpan(name, c.lot, c.at, c.actor, units))
    return spans


def line_states(conn: sqlite3.Connection, batch: str) -> list[tuple[str, str]]:
    """(time, PackML state) of every state change while the batch ran."""
    start, close = batch_window(conn, batch)
    if start is None:
        return []
    rows = conn.execute(
        "SELECT at, json_extract(after, '$.state') FROM audit WHERE command = 'line.state' "
        "AND id > ? AND (? IS NULL OR id < ?) ORDER BY id",
        (start, close, close),
    )
    return [(str(at), str(state)) for at, state in rows]


def per_minute(conn: sqlite3.Connection, batch: str) -> list[Minute]:
    """Good units and rejects per minute of the batch, from the time each verdict was recorded."""
    rows = conn.execute(
        f"SELECT substr(h.at, 1, 16), sum(h.to_state = {_GOOD}), sum(h.to_state = {_SCRAP}) "
        "FROM serial_history AS h JOIN serials AS s ON s.id = h.serial_id "
        f"WHERE s.batch = ? AND h.from_state = {_ENCODED} GROUP BY 1 ORDER BY 1",
        (batch,),
    )
    return [Minute(str(m), int(g or 0), int(r or 0)) for m, g, r in rows]


def samples(
    conn: sqlite3.Connection, batch: str, limit: int = 100
) -> tuple[int, list[RecordEntry]]:
    """QA samples of the batch (Sampled, LabelSampled): how many, and the first ``limit``."""
    where = "FROM serials AS s JOIN serial_history AS h ON h.serial_id = s.id " \
        f"AND h.to_state = s.state WHERE s.batch = ? AND s.state IN ({_SAMPLES})"  # fmt: skip
    total = int(conn.execute(f"SELECT count(*) {where}", (batch,)).fetchone()[0])
    rows = conn.execute(
        f"SELECT h.at, h.actor, s.serial, h.reason {where} ORDER BY h.id LIMIT ?", (batch, limit)
    )
    return total, [RecordEntry(str(a), str(u), f"sample {s}", str(r)) for a, u, s, r in rows]


_REWORK = (
    "serials.transition",
    "containers.pack",
    "containers.unpack",
    "containers.reopen",
    "containers.close",
    "containers.set_parent",
    "containers.ship",
    "containers.receive",
    "work_order.material",
)


def _detail(data: dict[str, object]) -> str:
    """The scalar fields of an audit row's ``after`` (and flat maps of counts), readably."""
    parts = []
    for key, value in data.items():
        if key in ("batch", "serials", "units", "event_ids") or value is None:
            continue
        if isinstance(value, str | int):
            parts.append(f"{key} {value}")
        elif isinstance(value, dict) and all(isinstance(v, str | int) for v in value.values()):
            parts.append(f"{key}: " + ", ".join(f"{k} {v}" for k, v in value.items()))
    return "; ".join(parts)


def rework(conn: sqlite3.Connection, batch: str, line_actor: str = "line") -> list[RecordEntry]:
    """What people did to the batch's units and containers after they were made (rework,
    decommissioning, samples, destruction, material changes, dispatch), oldest first."""
    found = []
    for _id, at, actor, command, reason, _before, after in _rework_rows(conn, batch, line_actor):
        detail = _detail(json.loads(after) if after else {})
        found.append(RecordEntry(str(at), str(actor), f"{command} {detail}".strip(), str(reason)))
    return found


def rework_signed(
    conn: sqlite3.Connection, batch: str, audit_ids: Sequence[int], line_actor: str = "line"
) -> list[int]:
    """Which of the rework signatures at ``audit_ids`` sign a step on ``batch``: a step's
    signature is recorded right after the step's own audit rows, so it signs the step whose
    row is the last person's rework row before it (in any batch)."""
    mine = {int(row[0]) for row in _rework_rows(conn, batch, line_actor)}
    marks = ", ".join("?" for _ in _REWORK)
    steps = [
        int(r[0])
        for r in conn.execute(
            f"SELECT id FROM audit WHERE command IN ({marks}) AND actor NOT IN (?, 'linectl') "
            "ORDER BY id",
            (*_REWORK, line_actor),
        )
    ]
    signed = []
    for audit_id in audit_ids:
        before = bisect.bisect_left(steps, audit_id)
        if before and steps[before - 1] in mine:
            signed.append(audit_id)
    return signed


def _rework_rows(conn: sqlite3.Connection, batch: str, line_actor: str) -> list[tuple[Any, ...]]:
    marks = ", ".join("?" for _ in _REWORK)
    rows = conn.execute(
        f"SELECT a.id, a.at, a.actor, a.command, a.reason, a.before, a.after FROM audit AS a "
        f"WHERE a.command IN ({marks}) AND a.actor NOT IN (?, 'linectl') AND ("
        "json_extract(a.after, '$.batch') = ? OR EXISTS (SELECT 1 FROM json_each("
        "json_extract(a.before, '$.batches')) WHERE value = ?) OR EXISTS (SELECT 1 FROM "
        "containers AS c WHERE c.batch = ? AND c.sscc IN (json_extract(a.after, '$.sscc'), "
        "json_extract(a.before, '$.sscc')))) ORDER BY a.id",
        (*_REWORK, line_actor, batch, batch, batch),
    )
    return list(rows)
