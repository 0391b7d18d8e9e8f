"""Packs in flight between the printer and the gate, and how a gate report settles each one.

The :class:`PackTable` alone owns seq -> :class:`PackRecord`: the feeder adds a record when it
loads a job, the inspection notes its verdict, the PLC watch takes it out when the gate reports.

A :class:`PackRecord` is made when a serial's print job is loaded for a predicted ``seq``; the
verification of its frame and the verdict written to the PLC are noted on it; the gate's report
(:class:`drivers.interfaces.GateOutcome`) settles it with :func:`settle`. The PLC is the
authority on what happened to the pack, so the ledger records the gate's outcome: a pack only
counts as good when linectl verified it GOOD and the gate let it pass (which it does only with
that GOOD in the pack's verdict slot in time).
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass

from drivers.interfaces import GateOutcome, Verdict
from linectl.ledger import Verdict as UnitVerdict
from linectl.ledger import verdict_of
from linectl.line.reasons import RejectReason


@dataclass(slots=True)
class PackRecord:
    """One serial on its way: the job sent for ``seq`` and what became of it so far."""

    seq: int
    serial: str
    data: str
    printed_at: str | None = None  # when the printer's count confirmed the print (ISO)
    frame_ns: int | None = None  # trigger time of the pack's camera frame (wall clock, ns)
    verdict: Verdict = Verdict.NONE  # what linectl decided (GOOD or REJECT) once verified
    written: bool = False  # the PLC acknowledged the verdict write
    reason: RejectReason | None = None  # why linectl rejected it
    grade: str | None = None
    detail: str = ""
    resolved: bool = False
    epc: str | None = None  # the EPC sent for the label's RFID tag (hex; None: no tag)
    encoded: bool | None = None  # the RFID printer's read-back: True it matched, False it did not

    @property
    def printed(self) -> bool:
        return self.printed_at is not None


@dataclass(frozen=True, slots=True)
class Settlement:
    """What the ledger records for a pack the gate reported on; ``alarm`` holds the line."""

    good: bool
    reason: RejectReason | None
    alarm: str | None = None


def unit_verdict(good: bool) -> UnitVerdict:
    """The ledger's verdict for a settled pack (the one conversion point to the ledger's enum)."""
    return UnitVerdict.GOOD if good else UnitVerdict.REJECT


def unit_good(verdict: UnitVerdict | str) -> bool:
    """Whether a unit result's verdict (the ledger's enum or its text) is GOOD."""
    return verdict_of(verdict) is UnitVerdict.GOOD


def settle(record: PackRecord, outcome: GateOutcome) -> Settlement:
    """The final outcome of ``record``'s pack, given what the gate did with it."""
    if outcome is GateOutcome.PASSED:
        if record.verdict is Verdict.GOOD:
            # The gate passes only on GOOD with this seq in the slot, so linectl's write got
            # there, even when its reply was lost with the connection (``written`` False).
            return Settlement(True, None)
        # The PLC passed a pack linectl did not find good (a stale slot?): never commission.
        return Settlement(
            False,
            record.reason or RejectReason.LATE,
            f"pack {record.seq} (serial {record.serial}) passed the gate without a GOOD verdict",
        )
    if outcome is GateOutcome.REJECTED_UNCONFIRMED:
        why = record.reason.value if record.reason is not None else "no GOOD verdict in time"
        return Settlement(
            False,
            RejectReason.REJECT_UNCONFIRMED,
            f"reject of pack {record.seq} (serial {record.serial}, {why}) was not confirmed: "
            "a bad pack may be downstream",
        )
    if record.verdict is Verdict.REJECT and record.reason is not None:
        return Settlement(False, record.reason)
    if record.verdict is Verdict.NONE and record.frame_ns is None:
        return Settlement(False, RejectReason.NO_READ)  # the camera never sent its frame
    return Settlement(False, RejectReason.LATE)  # GOOD decided but not in the slot in time


class PackTable:
    """The packs in flight by seq; the one owner of seq -> pack record."""

    def __init__(self) -> None:
        self._by_seq: dict[int, PackRecord] = {}

    def __len__(self) -> int:
        return len(self._by_seq)

    def __contains__(self, seq: object) -> bool:
        return seq in self._by_seq

    def add(self, record: PackRecord) -> None:
        """Track ``record`` under its seq (replacing whatever was there)."""
        self._by_seq[record.seq] = record

    def get(self, seq: int) -> PackRecord | None:
        return self._by_seq.get(seq)

    def take(self, seq: int) -> PackRecord | None:
        """Remove and return the record of ``seq`` (None if none is in flight)."""
        return self._by_seq.pop(seq, None)

    def discard(self, records: Iterable[PackRecord]) -> None:
        """Forget ``records`` (cancelled or re-keyed jobs)."""
        for record in records:
            if self._by_seq.get(record.seq) is record:
                del self._by_seq[record.seq]

    def take_through(self, seq: int) -> list[PackRecord]:
        """Remove and return, in seq order, every record at or before ``seq``."""
        gone = sorted(s for s in self._by_seq if s <= seq)
        return [self._by_seq.pop(s) for s in gone]

    def in_order(self) -> list[PackRecord]:
        """Every record in flight, in seq order (the table is unchanged)."""
        return sorted(self._by_seq.values(), key=lambda r: r.seq)

    def take_all(self) -> list[PackRecord]:
        """Remove and return every record, in seq order."""
        records = sorted(self._by_seq.values(), key=lambda r: r.seq)
        self._by_seq.clear()
        return records


class LatencyWindow:
    """The last ``size`` verdict latencies (camera trigger to verdict written), in ms."""

    def __init__(self, size: int = 5000) -> None:
        self._values: deque[float] = deque(maxlen=size)
        self.count = 0

    def add(self, ms: float) -> None:
        self._values.append(ms)
        self.count += 1

    def summary(self) -> dict[str, float | int | None]:
        values = sorted(self._values)
        if not values:
            return {"n": 0, "p50": None, "p99": None, "max": None}

        def pick(q: float) -> float:
            return round(values[min(len(values) - 1, int(q * len(values)))], 2)

        return {"n": len(values), "p50": pick(0.50), "p99": pick(0.99), "max": pick(1.0)}


class Rate:
    """Events per minute over the last ``window_s`` seconds (monotonic clock)."""

    def __init__(self, window_s: float = 10.0) -> None:
        self.window_s = window_s
        self._times: deque[float] = deque()

    def add(self, n: int = 1) -> None:
        now = time.monotonic()
        self._times.extend([now] * n)
        self._trim(now)

    def per_minute(self) -> float:
        now = time.monotonic()
        self._trim(now)
        return round(len(self._times) * 60.0 / self.window_s, 1)

    def _trim(self, now: float) -> None:
        while self._times and now - self._times[0] > self.window_s:
            self._times.popleft()
