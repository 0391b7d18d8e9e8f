"""Batch reconciliation: every serial the line received lands in exactly one bucket.

received = commissioned + scrapped + sampled + destroyed + returned + unused (+ in process)

Buckets go by each serial's current state:

- commissioned: Commissioned, Released (released packs were commissioned here and then shipped).
- scrapped: LabelScrapped, Inactive. A decommissioned (Inactive) pack was printed and commissioned,
  then withdrawn from use; like a scrapped label it is printed material that will not ship.
- sampled: LabelSampled, Sampled (retained label or pack samples).
- destroyed: Destroyed (including samples destroyed in testing).
- returned: Unallocated (given back upstream, SNReturnAllocated), Unassigned (back in the issuer's
  pool) and SNInvalid (voided upstream): never printed, no longer the line's.
- unused: Allocated, still in the line's pool.
- in process: Encoded, between write-ahead and verdict; allowed while the batch is open, must be
  zero once it is closed.

``received`` is counted from the import records (history rows with no from-state), and each
serial of the batch is bucketed one by one, so a serial without an import record, an import
record without a serial or an Encoded serial in a closed batch makes the batch unbalanced; the
totals are never derived by subtraction.

Aggregation: the reconciliation also lists every case and pallet of the batch with its counts
(units; cases on a pallet) and the orphans, Commissioned units packed in no case. Orphans do
not unbalance the serial accounting (they are commissioned); they are for the batch's orphan
policy (decommission, or hold for rework). A batch without any container (no aggregation on
the line) has no orphans by definition.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from enum import StrEnum

from linectl.ledger.errors import UnknownWorkOrder
from linectl.ledger.hierarchy import ContainerCount, batch_containers, orphans
from linectl.ledger.states import SerialState


class Bucket(StrEnum):
    """Where a serial ends up in a reconciliation."""

    COMMISSIONED = "commissioned"
    SCRAPPED = "scrapped"
    SAMPLED = "sampled"
    DESTROYED = "destroyed"
    RETURNED = "returned"
    UNUSED = "unused"
    IN_PROCESS = "in_process"


BUCKET_OF: Mapping[SerialState, Bucket] = {
    SerialState.COMMISSIONED: Bucket.COMMISSIONED,
    SerialState.RELEASED: Bucket.COMMISSIONED,
    SerialState.LABEL_SCRAPPED: Bucket.SCRAPPED,
    SerialState.INACTIVE: Bucket.SCRAPPED,
    SerialState.LABEL_SAMPLED: Bucket.SAMPLED,
    SerialState.SAMPLED: Bucket.SAMPLED,
    SerialState.DESTROYED: Bucket.DESTROYED,
    SerialState.UNALLOCATED: Bucket.RETURNED,
    SerialState.UNASSIGNED: Bucket.RETURNED,
    SerialState.SN_INVALID: Bucket.RETURNED,
    SerialState.ALLOCATED: Bucket.UNUSED,
    SerialState.ENCODED: Bucket.IN_PROCESS,
}
"""Bucket of every one of the twelve states."""


@dataclass(frozen=True)
class Reconciliation:
    """Counts of one batch by bucket, the problems found, and whether it balances."""

    batch: str
    gtin: str
    lot: str
    status: str
    received: int
    commissioned: int
    scrapped: int
    sampled: int
    destroyed: int
    returned: int
    unused: int
    in_process: int
    by_state: dict[str, int] = field(default_factory=dict)
    problems: tuple[str, ...] = ()
    containers: tuple[ContainerCount, ...] = ()
    orphans: tuple[str, ...] = ()
    planned: int = 0  # the work order's quantity
    made: int = 0  # units the line judged good (whatever became of them later)

    @property
    def accounted(self) -> int:
        """Serials counted into a bucket."""
        return sum(getattr(self, b.value) for b in Bucket)

    @property
    def balanced(self) -> bool:
        """Every received serial is in exactly one bucket and nothing else is wrong."""
        return not self.problems

    def to_json(self) -> str:
        """The reconciliation as a JSON document (for reports and upstream)."""
        data = asdict(self)
        data["problems"] = list(self.problems)
        data["containers"] = [asdict(c) for c in self.containers]
        data["orphans"] = {"count": len(self.orphans), "serials": list(self.orphans)}
        data["accounted"] = self.accounted
        data["balanced"] = self.balanced
        return json.dumps(data, indent=2, sort_keys=False, ensure_ascii=False)

    def to_table(self) -> str:
        """A readable text table for the operator."""
        lines = [
            f"Reconciliation of batch {self.batch} (GTIN {self.gtin}, lot {self.lot}, "
            f"{self.status})",
            "",
            f"  {'received':<14}{self.received:>10}",
        ]
        lines += [f"  {b.value.replace('_', ' '):<14}{getattr(self, b.value):>10}" for b in Bucket]
        lines.append(f"  {'accounted':<14}{self.accounted:>10}")
        lines.append("")
        lines.append(f"  planned {self.planned}, made {self.made} ({self.made_text()})")
        lines.append("  by state: " + ", ".join(f"{k} {v}" for k, v in self.by_state.items()))
        lines.append(f"  balanced: {'yes' if self.balanced else 'NO'}")
        lines += [f"  problem: {p}" for p in self.problems]
        lines += self._container_lines()
        return "\n".join(lines)

    def made_text(self) -> str:
        """Made against planned: ``100.0 % of plan``, with the overrun or shortfall."""
        if not self.planned:
            return "no quantity planned"
        share = f"{100 * self.made / self.planned:.1f} % of plan"
        diff = self.made - self.planned
        if diff > 0:
            return f"{share}, overrun {diff}"
        if diff < 0:
            return f"{share}, short by {-diff}"
        return share

    def _container_lines(self) -> list[str]:
        """Cases and pallets with their counts, then the orphans (first ten named)."""
        if not self.containers:
            return []
        pallets = [c for c in self.containers if c.level == "pallet"]
        cases = [c for c in self.containers if c.level == "case"]
        lines = ["", f"  containers: {len(pallets)} pallets, {len(cases)} cases"]
        for c in pallets:
            lines.append(f"    pallet {c.sscc}  {c.state:<8} {c.cases:>5} cases {c.units:>7} units")
        for c in cases:
            on = f"  on {c.parent}" if c.parent else ""
            lines.append(f"    case   {c.sscc}  {c.state:<8} {c.units:>7} units{on}")
        lines.append(f"  orphans (commissioned, in no case): {len(self.orphans)}")
        if self.orphans:
            more = f" and {len(self.orphans) - 10} more" if len(self.orphans) > 10 else ""
            lines.append(f"    {', '.join(self.orphans[:10])}{more}")
        return lines


def reconcile_batch(conn: sqlite3.Connection, batch: str) -> Reconciliation:
    """Reconcile one batch, serial by serial (the caller reads in one snapshot)."""
    order = conn.execute(
        "SELECT gtin, lot, status, quantity FROM work_orders WHERE batch = ?", (batch,)
    ).fetchone()
    if order is None:
        raise UnknownWorkOrder(batch)
    gtin, lot, status = (str(v) for v in order[:3])
    made = conn.execute(
        "SELECT count(*) FROM units AS u JOIN serials AS s ON s.id = u.serial_id "
        "WHERE s.batch = ? AND u.verdict = 'good'",
        (batch,),
    ).fetchone()[0]

    received_ids = {
        int(r[0])
        for r in conn.execute(
            "SELECT h.serial_id FROM serial_history AS h JOIN serials AS s ON s.id = h.serial_id "
            "WHERE s.batch = ? AND h.from_state IS NULL",
            (batch,),
        )
    }
    counts = dict.fromkeys(Bucket, 0)
    by_state: dict[SerialState, int] = {}
    problems: list[str] = []
    not_received: list[str] = []
    seen: set[int] = set()
    for serial_id, serial, state_value in conn.execute(
        "SELECT id, serial, state FROM serials WHERE batch = ? ORDER BY id", (batch,)
    ):
        state = SerialState(state_value)
        seen.add(int(serial_id))
        if int(serial_id) not in received_ids:
            not_received.append(str(serial))
            continue
        counts[BUCKET_OF[state]] += 1
        by_state[state] = by_state.get(state, 0) + 1
    if not_received:
        problems.append(
            f"{len(not_received)} serials in the batch have no import record "
            f"(e.g. {', '.join(not_received[:5])})"
        )
    if missing := received_ids - seen:
        problems.append(f"{len(missing)} imported serials are missing from the batch")
    if status == "closed" and counts[Bucket.IN_PROCESS]:
        problems.append(f"{counts[Bucket.IN_PROCESS]} serials are still Encoded in a closed batch")
    containers = batch_containers(conn, batch)
    if sum(counts.values()) != len(received_ids):
        problems.append(f"received {len(received_ids)} but {sum(counts.values())} accounted for")
    return Reconciliation(
        batch=batch,
        gtin=gtin,
        lot=lot,
        status=status,
        received=len(received_ids),
        commissioned=counts[Bucket.COMMISSIONED],
        scrapped=counts[Bucket.SCRAPPED],
        sampled=counts[Bucket.SAMPLED],
        destroyed=counts[Bucket.DESTROYED],
        returned=counts[Bucket.RETURNED],
        unused=counts[Bucket.UNUSED],
        in_process=counts[Bucket.IN_PROCESS],
        by_state={s.label: by_state[s] for s in sorted(by_state)},
        problems=tuple(problems),
        containers=tuple(containers),
        orphans=tuple(orphans(conn, batch)) if containers else (),
        planned=int(order[3]),
        made=int(made),
    )
