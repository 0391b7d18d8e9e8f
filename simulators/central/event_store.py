"""Storage of the simulated EPCIS repository: captured events and capture jobs (SQLite).

An event is stored once per eventID: a capture that repeats an already stored eventID is
idempotent (``duplicates="ignore"``, the default: it counts as captured) or reports an
``epcisException:ResourceAlreadyExistsException`` naming the eventID in ``instance``
(``duplicates="reject"``). Events are kept in capture order (``seq``). Calls are serialised and
blocking; the server runs them off its event loop.
"""

from __future__ import annotations

import json
import re
import sqlite3
import threading
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

_SCHEMA = """
CREATE TABLE IF NOT EXISTS capture_jobs (
    id TEXT PRIMARY KEY, created_at TEXT NOT NULL, finished_at TEXT, running INTEGER NOT NULL,
    success INTEGER NOT NULL, behaviour TEXT NOT NULL, errors TEXT NOT NULL DEFAULT '[]',
    events INTEGER NOT NULL, context TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS events (
    seq INTEGER PRIMARY KEY AUTOINCREMENT, event_id TEXT NOT NULL UNIQUE, type TEXT NOT NULL,
    event_time INTEGER, record_time TEXT NOT NULL, biz_step TEXT, action TEXT,
    capture_id TEXT NOT NULL, body TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS event_epcs (seq INTEGER NOT NULL, epc TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS event_epcs_by_epc ON event_epcs (epc);
"""

_BIZSTEP_PREFIXES = (
    "https://ref.gs1.org/cbv/BizStep-",
    "http://ref.gs1.org/cbv/BizStep-",
    "urn:epcglobal:cbv:bizstep:",
    "cbv:BizStep-",
)
ALREADY_EXISTS = "epcisException:ResourceAlreadyExistsException"
IMPLEMENTATION = "epcisException:ImplementationException"


def now_text() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def epoch_ms(text: Any) -> int | None:
    """Milliseconds since 1970 of an xsd:dateTime with offset, or None when it is not one."""
    if not isinstance(text, str):
        return None
    value = re.sub(r"[zZ]$", "+00:00", text.strip())
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        return None
    if moment.tzinfo is None:
        return None
    return int(moment.timestamp() * 1000)


def short_bizstep(value: Any) -> str | None:
    """``commissioning`` for any of its CBV spellings; other values unchanged."""
    if not isinstance(value, str):
        return None
    for prefix in _BIZSTEP_PREFIXES:
        if value.startswith(prefix):
            return value[len(prefix) :]
    return value


@dataclass
class JobOutcome:
    """What a capture job did."""

    stored: int = 0
    duplicates: int = 0
    errors: list[dict[str, Any]] = field(default_factory=list)
    failed: bool = False


@dataclass(frozen=True)
class StoredEvent:
    seq: int
    event_id: str
    capture_id: str
    event: dict[str, Any]
    context: Any


class QueryError(ValueError):
    """A query parameter the repository cannot use; names the parameter."""


class EventStore:
    """Captured events and capture jobs in one SQLite file."""

    def __init__(self, path: Path | str) -> None:
        self._lock = threading.Lock()
        self._db = sqlite3.connect(str(path), check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=FULL")  # a job reported done is on disk
        self._db.executescript(_SCHEMA)
        # jobs that were running when the simulator stopped never finish: say so
        self._db.execute(
            "UPDATE capture_jobs SET running = 0, success = 0, finished_at = ?, errors = ? "
            "WHERE running = 1",
            (now_text(), json.dumps([_problem(IMPLEMENTATION, "repository restarted")])),
        )

    def close(self) -> None:
        with self._lock:
            self._db.close()

    # -- jobs -----------------------------------------------------------------------------

    def open_job(self, events: int, behaviour: str, context: Any) -> str:
        capture_id = "cj-" + uuid.uuid4().hex
        with self._lock:
            self._db.execute(
                "INSERT INTO capture_jobs (id, created_at, running, success, behaviour, events, "
                "context) VALUES (?, ?, 1, 1, ?, ?, ?)",
                (capture_id, now_text(), behaviour, events, json.dumps(context)),
            )
        return capture_id

    def job(self, capture_id: str) -> dict[str, Any] | None:
        """The capture job document (openapi ``CaptureJob``), or None when unknown."""
        with self._lock:
            row = self._db.execute(
                "SELECT id, created_at, finished_at, running, success, behaviour, errors "
                "FROM capture_jobs WHERE id = ?",
                (capture_id,),
            ).fetchone()
        if row is None:
            return None
        return _job_document(row)

    def jobs(self, limit: int = 100) -> list[dict[str, Any]]:
        with self._lock:
            rows = self._db.execute(
                "SELECT id, created_at, finished_at, running, success, behaviour, errors "
                "FROM capture_jobs ORDER BY rowid DESC LIMIT ?",
                (limit,),
            ).fetchall()
        return [_job_document(r) for r in rows]

    def run_job(
        self,
        capture_id: str,
        events: Sequence[Mapping[str, Any]],
        *,
        behaviour: Literal["rollback", "proceed"],
        duplicates: Literal["ignore", "reject"],
        fail_after: int | None = None,
    ) -> JobOutcome:
        """Store a job's events; ``fail_after=k``: store the first k, then fail (a fault)."""
        outcome = JobOutcome()
        record_time = now_text()
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                for index, event in enumerate(events):
                    if fail_after is not None and index >= fail_after:
                        outcome.failed = True
                        outcome.errors.append(
                            _problem(
                                IMPLEMENTATION,
                                "capture job failed part-way",
                                f"stopped after {index} of {len(events)} events",
                            )
                        )
                        break
                    self._store_one(capture_id, event, record_time, duplicates, outcome)
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            keep = outcome.failed or not outcome.errors or behaviour == "proceed"
            if not keep:
                outcome.stored = 0
            self._db.execute("COMMIT" if keep else "ROLLBACK")
            success = not outcome.errors
            self._db.execute(
                "UPDATE capture_jobs SET running = 0, success = ?, finished_at = ?, errors = ? "
                "WHERE id = ?",
                (int(success), now_text(), json.dumps(outcome.errors), capture_id),
            )
        return outcome

    def _store_one(
        self,
        capture_id: str,
        event: Mapping[str, Any],
        record_time: str,
        duplicates: str,
        outcome: JobOutcome,
    ) -> None:
        event_id = event.get("eventID")
        if not isinstance(event_id, str) or not event_id:
            event_id = "urn:uuid:" + str(uuid.uuid4())  # EPCIS 2.0: the server supplies one
            event = {"eventID": event_id, **event}
        exists = self._db.execute("SELECT 1 FROM events WHERE event_id = ?", (event_id,)).fetchone()
        if exists is not None:
            outcome.duplicates += 1
            if duplicates == "reject":
                outcome.errors.append(
                    _problem(ALREADY_EXISTS, "event already captured", instance=event_id)
                )
            return
        cursor = self._db.execute(
            "INSERT INTO events (event_id, type, event_time, record_time, biz_step, action, "
            "capture_id, body) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (
                event_id,
                str(event.get("type", "")),
                epoch_ms(event.get("eventTime")),
                record_time,
                short_bizstep(event.get("bizStep")),
                event.get("action"),
                capture_id,
                json.dumps(event, separators=(",", ":"), ensure_ascii=False),
            ),
        )
        epcs = [*(event.get("epcList") or []), *(event.get("childEPCs") or [])]
        parent = event.get("parentID")
        if isinstance(parent, str):
            epcs.append(parent)
        self._db.executemany(
            "INSERT INTO event_epcs (seq, epc) VALUES (?, ?)",
            [(cursor.lastrowid, e) for e in epcs if isinstance(e, str)],
        )
        outcome.stored += 1

    # -- reading --------------------------------------------------------------------------

    def count(self) -> int:
        with self._lock:
            return int(self._db.execute("SELECT count(*) FROM events").fetchone()[0])

    def events(self) -> list[StoredEvent]:
        """Every stored event in capture order, with its document's @context."""
        with self._lock:
            rows = self._db.execute(
                "SELECT e.seq, e.event_id, e.capture_id, e.body, j.context FROM events e "
                "JOIN capture_jobs j ON j.id = e.capture_id ORDER BY e.seq"
            ).fetchall()
        return [StoredEvent(s, i, c, json.loads(b), json.loads(x)) for s, i, c, b, x in rows]

    def query(
        self, params: Mapping[str, str], limit: int, after: int
    ) -> tuple[list[StoredEvent], int | None]:
        """SimpleEventQuery subset; returns a page of events and the seq to continue after."""
        where: list[str] = ["e.seq > ?"]
        args: list[int | str] = [after]
        for name, raw in params.items():
            values = [v for v in raw.split("|") if v]
            if not values:
                raise QueryError(f"{name}: empty value")
            marks = ",".join("?" * len(values))
            if name == "eventType":
                where.append(f"e.type IN ({marks})")
                args.extend(values)
            elif name == "EQ_bizStep":
                where.append(f"e.biz_step IN ({marks})")
                args.extend(short_bizstep(v) or v for v in values)
            elif name == "EQ_action":
                where.append(f"e.action IN ({marks})")
                args.extend(values)
            elif name == "EQ_eventID":
                where.append(f"e.event_id IN ({marks})")
                args.extend(values)
            elif name == "MATCH_epc":
                where.append(f"e.seq IN (SELECT seq FROM event_epcs WHERE epc IN ({marks}))")
                args.extend(values)
            elif name in ("GE_eventTime", "LT_eventTime"):
                moment = epoch_ms(raw)
                if moment is None:
                    raise QueryError(f"{name}: {raw!r} is not a date-time with offset")
                where.append("e.event_time >= ?" if name.startswith("GE") else "e.event_time < ?")
                args.append(moment)
            elif name in ("GE_recordTime", "LT_recordTime"):
                moment = epoch_ms(raw)
                if moment is None:
                    raise QueryError(f"{name}: {raw!r} is not a date-time with offset")
                op = ">=" if name.startswith("GE") else "<"
                where.append(f"e.record_time {op} ?")
                stamp = datetime.fromtimestamp(moment / 1000, UTC)
                args.append(stamp.isoformat(timespec="milliseconds").replace("+00:00", "Z"))
            else:
                raise QueryError(f"{name}: this repository does not support the parameter")
        sql = (
            "SELECT e.seq, e.event_id, e.capture_id, e.body, j.context FROM events e "
            "JOIN capture_jobs j ON j.id = e.capture_id WHERE "
            + " AND ".join(where)
            + " ORDER BY e.seq LIMIT ?"
        )
        with self._lock:
            rows = self._db.execute(sql, (*args, limit + 1)).fetchall()
        page = [StoredEvent(s, i, c, json.loads(b), json.loads(x)) for s, i, c, b, x in rows]
        more = len(page) > limit
        page = page[:limit]
        return page, (page[-1].seq if more and page else None)


def _problem(kind: str, title: str, detail: str = "", instance: str = "") -> dict[str, Any]:
    problem: dict[str, Any] = {"type": kind, "title": title, "status": 500}
    if kind == ALREADY_EXISTS:
        problem["status"] = 409
    if detail:
        problem["detail"] = detail
    if instance:
        problem["instance"] = instance
    return problem


def _job_document(row: tuple[Any, ...]) -> dict[str, Any]:
    capture_id, created, finished, running, success, behaviour, errors = row
    job: dict[str, Any] = {
        "captureID": capture_id,
        "createdAt": created,
        "running": bool(running),
        "success": bool(success),
        "captureErrorBehaviour": behaviour,
        "errors": json.loads(errors),
    }
    if finished:
        job["finishedAt"] = finished
    return job
