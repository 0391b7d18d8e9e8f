"""The invariants that must hold after any fault (issue 15), checked in one pass each.

1. No serial printed twice: every job the daemon sent to the printer simulator (its print log's
   ``intended``) carries a serial sent once (an injected ``duplicate`` defect marks another
   pack's code on purpose; it does not count, the job sent does).
2. Every batch balanced: ``reconcile`` of each work order in the ledger.
3. ``audit verify`` passes: the ledger's hash chain, seals and cross-checks, with the audit key.
4. No unit in two containers: the ledger's packing and unpacking events, replayed in queue
   order, never put a child into a second parent it was not taken out of first, and where the
   events leave each child is where the ledger's rows say it is.
5. No event lost or duplicated upstream (once the line has synced): every event of the ledger's
   outbox reached the central simulator's store exactly once by eventID, in queue order; the
   store holds nothing the ledger does not; and no EPC was commissioned in two events.

And the operator's half: after a fault the line either produces again, or its status names an
alarm that docs/alarms.md documents with what to do, and the log shows that alarm raised.
"""

from __future__ import annotations

import asyncio
import json
import sqlite3
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence, Set
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from linectl.config.identity import IdentitySection
from linectl.config.upstream import EpcisSection
from linectl.identity.keyfiles import audit_key_path, load_audit_key
from linectl.ledger import Ledger
from linectl.ledger.hierarchy import identifier
from linectl.upstream.epcis_sync import EpcisSync
from linectl.upstream.ledger_link import LedgerOutbox
from simulators.central.event_store import EventStore, StoredEvent
from standards.gs1.epc import Identifier
from standards.gs1.errors import Gs1Error
from standards.gs1.scan import parse_scan

ALARMS_PAGE = Path(__file__).resolve().parents[1] / "docs" / "alarms.md"
PRODUCING = frozenset({"EXECUTE", "COMPLETING", "COMPLETE"})
"""Line states that count as "produces again": running, or ran to the end of the batch."""
WAITING = frozenset({"HELD", "SUSPENDED", "STOPPED", "ABORTED", "IDLE"})
"""Line states that wait for someone or something: status must say what (the others pass)."""


@dataclass(frozen=True, slots=True)
class Upstream:
    """The ledger's outbox against what the central simulator stored."""

    queued: int  # events in the ledger's outbox
    stored: int  # events in the central store
    pending: list[str]  # still undelivered in the ledger: the line has not synced
    lost: list[str]  # marked delivered (or queued) but not in the store
    unknown: list[str]  # in the store, not in the ledger
    out_of_order: list[str]  # stored before an event queued ahead of it
    commissioned_twice: list[str]  # EPCs in two commissioning events

    def problems(self) -> list[str]:
        out = []
        for title, items in (
            ("not synced: still pending in the outbox", self.pending),
            ("lost upstream (in the outbox, not in the central store)", self.lost),
            ("duplicated upstream (in the central store, not in the ledger)", self.unknown),
            ("reordered upstream (stored before an event queued ahead of it)", self.out_of_order),
            ("commissioned in two events upstream", self.commissioned_twice),
        ):
            if items:
                out.append(f"{len(items)} {title}: {', '.join(items[:5])}")
        return out


@dataclass
class InvariantReport:
    """What the five invariants found; ``ok`` when none failed."""

    jobs_sent: int = 0
    printed_twice: list[str] = field(default_factory=list)
    batches: dict[str, bool] = field(default_factory=dict)  # batch -> balanced
    unbalanced: list[str] = field(default_factory=list)
    audit: str = ""  # first line of the audit report
    audit_ok: bool = False
    containers: int = 0  # parents the events name
    in_two_containers: list[str] = field(default_factory=list)
    upstream: Upstream | None = None  # None: the line has no upstream

    @property
    def ok(self) -> bool:
        return not self.problems()

    def problems(self) -> list[str]:
        out = []
        if self.printed_twice:
            out.append(f"printed twice: {', '.join(self.printed_twice[:5])}")
        out += [f"unbalanced: {u}" for u in self.unbalanced]
        if not self.audit_ok:
            out.append(f"audit verify fails: {self.audit}")
        out += [f"in two containers: {u}" for u in self.in_two_containers[:5]]
        if self.upstream is not None:
            out += self.upstream.problems()
        return out

    def summary(self) -> str:
        up = "no upstream"
        if self.upstream is not None:
            up = f"{self.upstream.queued} events queued, {self.upstream.stored} stored upstream"
        return (
            f"invariants: {self.jobs_sent} print jobs, {len(self.printed_twice)} serials twice; "
            f"{sum(self.batches.values())}/{len(self.batches)} batches balanced; audit "
            f"{'verifies' if self.audit_ok else 'FAILS'}; {self.containers} containers, "
            f"{len(self.in_two_containers)} units in two; {up}"
        )

    def figures(self) -> dict[str, object]:
        """The report as flat figures (for bench/soak.py's JSON)."""
        up = self.upstream
        return {
            "print jobs sent": self.jobs_sent,
            "serials printed twice": len(self.printed_twice),
            "batches balanced": f"{sum(self.batches.values())}/{len(self.batches)}",
            "audit trail verifies": self.audit_ok,
            "containers": self.containers,
            "units in two containers": len(self.in_two_containers),
            "events queued": None if up is None else up.queued,
            "events stored upstream": None if up is None else up.stored,
            "events not synced": None if up is None else len(up.pending),
            "events lost upstream": None if up is None else len(up.lost),
            "events duplicated upstream": None
            if up is None
            else len(up.unknown) + len(up.commissioned_twice),
            "events reordered upstream": None if up is None else len(up.out_of_order),
        }


# --- 1. the printer's log --------------------------------------------------------------------


def serials_sent(print_logs: Iterable[Path]) -> Counter[str]:
    """Serial -> how many print jobs carried it, over the printer simulators' logs."""
    sent: Counter[str] = Counter()
    for path in print_logs:
        if not path.exists():
            continue  # that printer never printed
        with path.open(encoding="utf-8") as lines:
            for number, line in enumerate(lines, start=1):
                if not line.strip():
                    continue
                try:
                    intended = json.loads(line)["intended"]
                except (ValueError, KeyError, TypeError) as exc:
                    raise ValueError(f"{path} line {number}: not a print record: {exc}") from None
                if intended:
                    sent[_serial(intended)] += 1
    return sent


def _serial(data: str) -> str:
    try:
        return parse_scan("]d2" + data).serial or data
    except Gs1Error:
        return data  # a job with no readable serial is counted by its whole content


# --- 4. containers, from the ledger's events --------------------------------------------------


def _replay(bodies: Iterable[Mapping[str, Any]]) -> tuple[dict[Identifier, Identifier], list[str]]:
    """Replay packing (ADD) and unpacking (DELETE) events: child -> parent, and the doubles."""
    parent_of: dict[Identifier, Identifier] = {}
    doubles: list[str] = []
    for body in bodies:
        if body.get("type") != "AggregationEvent":
            continue
        parent = identifier(str(body.get("parentID", "")))
        if parent is None:
            continue
        named = body.get("childEPCs")
        children = [(c, i) for c in named or [] if (i := identifier(str(c))) is not None]
        if body.get("action") == "ADD":
            for text, child in children:
                held = parent_of.get(child)
                if held is not None and held != parent:
                    doubles.append(f"{text} packed into {body['parentID']} while in {held.key}")
                parent_of[child] = parent
        elif body.get("action") == "DELETE":
            if named is None:  # an unpacking without childEPCs empties the parent
                for child in [c for c, p in parent_of.items() if p == parent]:
                    del parent_of[child]
            for _, child in children:
                if parent_of.get(child) == parent:
                    del parent_of[child]
    return parent_of, doubles


def _ledger_rows(
    path: Path,
) -> tuple[list[tuple[int, str, str, str]], dict[tuple[str, str], str], set[str]]:
    """Outbox rows (id, event_id, delivery, body) in queue order, where each packed unit or
    case is by the ledger's rows ((gtin or sscc, serial or "") -> its closed container), and
    the SSCCs of the closed containers."""
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        outbox = [
            (int(i), str(e), str(d), str(b))
            for i, e, d, b in conn.execute(
                "SELECT id, event_id, delivery, body FROM outbox ORDER BY id"
            )
        ]
        placed: dict[tuple[str, str], str] = {}
        for gtin, serial, sscc in conn.execute(
            "SELECT s.gtin, s.serial, u.container FROM units AS u "
            "JOIN serials AS s ON s.id = u.serial_id "
            "JOIN containers AS c ON c.sscc = u.container WHERE c.state = 'closed'"
        ):
            placed[(str(gtin), str(serial))] = str(sscc)
        for sscc, parent in conn.execute(
            "SELECT c.sscc, c.parent FROM containers AS c JOIN containers AS p "
            "ON p.sscc = c.parent WHERE p.state = 'closed'"
        ):
            placed[(str(sscc), "")] = str(parent)
        closed = {
            str(r[0]) for r in conn.execute("SELECT sscc FROM containers WHERE state = 'closed'")
        }
    finally:
        conn.close()
    return outbox, placed, closed


def check_containers(
    bodies: Sequence[Mapping[str, Any]],
    placed: Mapping[tuple[str, str], str],
    closed: Set[str] = frozenset(),
) -> tuple[int, list[str]]:
    """(parents named by the events, units or cases in two containers or placed apart).

    The events and the ledger's rows must agree both ways: a child the events leave in a
    container the ledger has closed (``closed``) must be in it by the rows, and a child the rows
    put in a closed container (unit in a case, case on a pallet) needs a packing event."""
    parent_of, doubles = _replay(bodies)
    for child, parent in parent_of.items():
        name = f"{child.key} {child.qualifier}".rstrip()
        where = placed.get((child.key, child.qualifier))
        if where is not None and where != parent.key:
            doubles.append(f"{name}: events say {parent.key}, ledger {where}")
        elif where is None and parent.key in closed:
            doubles.append(f"{name}: events say {parent.key}, ledger: in no closed container")
    for (key, qualifier), where in placed.items():
        said = parent_of.get(Identifier("sscc" if not qualifier else "sgtin", key, qualifier))
        if said is None:  # the ledger packed it, no event says so
            doubles.append(f"{f'{key} {qualifier}'.rstrip()}: ledger {where}, no packing event")
    return len({p for p in parent_of.values()}), doubles


# --- 5. upstream --------------------------------------------------------------------------------


def check_upstream(
    outbox: Sequence[tuple[int, str, str, str]], stored: Sequence[StoredEvent]
) -> Upstream:
    """The outbox (id, event_id, delivery, body) against the store's events in capture order."""
    queue_of = {event_id: oid for oid, event_id, _, _ in outbox}
    seen = {e.event_id for e in stored}
    pending = [e for _, e, d, _ in outbox if d == "pending"]
    lost = [e for _, e, d, _ in outbox if d != "pending" and e not in seen]
    unknown = [e.event_id for e in stored if e.event_id not in queue_of]
    out_of_order: list[str] = []
    last = 0
    for event in stored:
        oid = queue_of.get(event.event_id)
        if oid is None:
            continue
        if oid < last:
            out_of_order.append(event.event_id)
        last = max(last, oid)
    commissioned: Counter[str] = Counter()
    for event in stored:
        body = event.event
        if str(body.get("bizStep", "")).endswith("commissioning") and body.get("action") == "ADD":
            commissioned.update(str(epc) for epc in body.get("epcList", []))
    twice = [epc for epc, n in commissioned.items() if n > 1]
    return Upstream(len(outbox), len(stored), pending, lost, unknown, out_of_order, twice)


async def sync_outbox(ledger: Ledger, base_url: str, *, guard_s: float = 60.0) -> int:
    """Deliver what the outbox still holds, as ``linectl sync`` does when no daemon runs (the
    line's own uplink stopped first); returns how many events went."""
    section = EpcisSection(base_url=base_url, backoff_initial_s=0.1, backoff_max_s=1.0)
    sync = EpcisSync(LedgerOutbox(ledger), section.settings())
    try:
        async with asyncio.timeout(guard_s):
            return await sync.drain(max_failures=20)
    finally:
        await sync.close()


def central_events(db_path: Path) -> list[StoredEvent]:
    """What a central simulator that has stopped stored, from its database file."""
    store = EventStore(db_path)
    try:
        return store.events()
    finally:
        store.close()


# --- all five --------------------------------------------------------------------------------


def check_invariants(
    ledger: Ledger,
    print_logs: Sequence[Path],
    *,
    central: Sequence[StoredEvent] | None = None,
    key: bytes | None = None,
) -> InvariantReport:
    """Check the five invariants on a ledger the line has let go of (or is idle on).

    ``central``: the central simulator's stored events (``sim.store.events()`` in process,
    :func:`central_events` after it stopped), or None for a line without upstream; give them
    once the line has synced, or the pending events are reported. ``key``: the audit key,
    read from beside the ledger when not given.
    """
    report = InvariantReport()
    sent = serials_sent(print_logs)
    report.jobs_sent = sum(sent.values())
    report.printed_twice = sorted(s for s, n in sent.items() if n > 1)
    for order in ledger.list_work_orders():
        rec = ledger.reconcile(order.batch)
        report.batches[order.batch] = rec.balanced
        if not rec.balanced:
            report.unbalanced.append(f"{order.batch}: {'; '.join(rec.problems)}")
    if key is None:
        key = load_audit_key(audit_key_path(IdentitySection(), Path(ledger.path)))
    audit = ledger.verify_audit(key=key)
    report.audit_ok, report.audit = audit.ok, str(audit).splitlines()[0]
    outbox, placed, closed = _ledger_rows(Path(ledger.path))
    bodies = [json.loads(body) for *_, body in outbox]
    report.containers, report.in_two_containers = check_containers(bodies, placed, closed)
    if central is not None:
        report.upstream = check_upstream(outbox, central)
    return report


# --- the operator's half ---------------------------------------------------------------------


def documented_actions(page: Path = ALARMS_PAGE) -> dict[str, str]:
    """Alarm code (``device-lost:`` for ``device-lost:NAME``) -> what to do, from the docs."""
    actions: dict[str, str] = {}
    for line in page.read_text(encoding="utf-8").splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) != 4 or not cells[0].startswith("`"):
            continue
        code = cells[0].strip("`").split("NAME")[0]
        actions[code] = cells[3]
    return actions


def _action(code: str, actions: Mapping[str, str]) -> str | None:
    return actions.get(code) or next(
        (a for c, a in actions.items() if c.endswith(":") and code.startswith(c)), None
    )


@dataclass(frozen=True, slots=True)
class OperatorView:
    """After a fault: the line produces again, or what status and log tell the operator."""

    state: str
    told: tuple[str, ...]  # "code: message -> what to do" of each alarm status shows
    problems: tuple[str, ...]  # an alarm missing from the log or the docs; nothing said at all

    @property
    def resumed(self) -> bool:
        return self.state in PRODUCING

    @property
    def ok(self) -> bool:
        if self.resumed:
            return True
        return not self.problems and (bool(self.told) or self.state not in WAITING)


def operator_view(status: Mapping[str, Any], log_text: str) -> OperatorView:
    """Judge a status document (the control API's, or the runtime's) and the daemon's log."""
    raw = status.get("state")
    state = str(raw.get("name") if isinstance(raw, Mapping) else raw)
    actions = documented_actions()
    told: list[str] = []
    problems: list[str] = []
    for alarm in status.get("alarms", []):
        code, message = str(alarm["code"]), str(alarm["message"])
        action = _action(code, actions)
        if action is None:
            problems.append(f"alarm {code} has no action in docs/alarms.md")
        if f"alarm {code}: " not in log_text:
            problems.append(f"alarm {code} is in status but not in the log")
        told.append(f"{code}: {message} -> {action}")
    if state in WAITING and not told:
        problems.append(f"the line is {state} and status names no alarm")
    return OperatorView(state, tuple(told), tuple(problems))
