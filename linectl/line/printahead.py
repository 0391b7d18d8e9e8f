"""The printer's print-ahead queue as linectl tracks it: which job goes on which pack, and which
prints the printer has confirmed.

A printer with a queue marks each pack reaching it with the next queued job. So when the line is
standing still, the queue is known (empty after a cancel, or the jobs still outstanding) and the
PLC says which pack reached the printer last (``Stations.Printer.LastSeq``), the next job goes on
pack ``LastSeq + 1``, the one after on ``LastSeq + 2`` and so on: :meth:`PrintAhead.sync` sets
that base and :meth:`PrintAhead.add` hands out the seqs. The prediction holds while every pack
takes exactly one job, which is why the queue must never run dry while the line produces.

The printer's counter confirms prints: ``count - base_count`` jobs have been taken, in order.
A counter that goes back, or runs ahead of the jobs loaded, means the prediction can no longer
be trusted; the tracker then reports itself out of sync until the next :meth:`sync`.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable

from linectl.line.packs import PackRecord


class PrintAhead:
    """Seq prediction and print confirmation for one printer (see the module docstring)."""

    def __init__(self) -> None:
        self.synced = False
        self.problem: str | None = "not synchronised yet"
        self.base_seq = 0
        self.base_count = 0
        self.loaded = 0  # jobs loaded since the last sync (including re-based ones)
        self.consumed = 0  # of those, how many the printer's counter says it has taken
        self.passed = 0  # packs that reached the printer since the sync (the PLC's count)
        self.resync_asked: str | None = "not synchronised yet"  # why the queue must be redone
        self._outstanding: deque[PackRecord] = deque()

    def sync(
        self, next_seq: int, print_count: int, keep: Iterable[PackRecord] = ()
    ) -> list[tuple[int, PackRecord]]:
        """Start counting afresh with the line standing still.

        ``next_seq`` is the pack that reaches the printer next, ``print_count`` the printer's
        counter now, ``keep`` the jobs still queued in the printer in queue order (none after a
        cancel). Kept jobs get the next seqs; returns (old seq, record) for each re-keyed one.
        """
        self.base_seq, self.base_count = next_seq, print_count
        self.loaded = self.consumed = self.passed = 0
        self._outstanding.clear()
        moved: list[tuple[int, PackRecord]] = []
        for record in keep:
            old = record.seq
            record.seq = self.next_seq
            self._outstanding.append(record)
            self.loaded += 1
            if old != record.seq:
                moved.append((old, record))
        self.synced, self.problem, self.resync_asked = True, None, None
        return moved

    @property
    def next_seq(self) -> int:
        """The seq the next loaded job will be printed on."""
        return self.base_seq + self.loaded

    @property
    def queued(self) -> int:
        """Jobs loaded and not yet taken by a pack (as the printer's counter says)."""
        return self.loaded - self.consumed

    @property
    def ahead(self) -> int:
        """Jobs still ahead of the packs, by whichever says fewer: the printer's counter or the
        PLC's count of packs that reached the printer (it is often the first to know)."""
        return self.loaded - max(self.consumed, self.passed)

    def note_printer_seq(self, last_seq: int) -> None:
        """The PLC says pack ``last_seq`` is the last one that reached the printer."""
        if self.synced:
            self.passed = max(self.passed, last_seq - self.base_seq + 1)

    def add(self, record: PackRecord) -> None:
        """Note a job just sent for ``record.seq`` (which must be :attr:`next_seq`)."""
        if record.seq != self.next_seq:
            raise ValueError(f"job for seq {record.seq} loaded, but seq {self.next_seq} is next")
        self._outstanding.append(record)
        self.loaded += 1

    def observe(self, print_count: int, at: str) -> list[PackRecord]:
        """Take in the printer's counter; returns the records whose print it newly confirms."""
        if not self.synced:
            return []
        taken = print_count - self.base_count
        if taken < self.consumed:
            self.desync(f"printer counter went back from {self.base_count + self.consumed} "
                        f"to {print_count}")  # fmt: skip
            return []
        confirmed: list[PackRecord] = []
        while self.consumed < taken and self._outstanding:
            record = self._outstanding.popleft()
            record.printed_at = at
            confirmed.append(record)
            self.consumed += 1
        if taken > self.consumed:
            self.desync(f"printer counted {taken} prints but only {self.loaded} jobs were sent")
        return confirmed

    def outstanding(self) -> list[PackRecord]:
        """Jobs the printer has not taken yet, in queue order."""
        return list(self._outstanding)

    def cancel(self, why: str) -> list[PackRecord]:
        """The printer's queue was cancelled: forget the jobs it held (returned) and desync."""
        cancelled = list(self._outstanding)
        self._outstanding.clear()
        self.loaded = self.consumed
        self.desync(why)
        return cancelled

    def ask_resync(self, why: str) -> None:
        """The queue must be resynchronised before the line produces again (printer lost,
        faulted, rejects in a row, batch changed, line ended); the tracker alone decides."""
        self.resync_asked = why

    @property
    def needs_resync(self) -> bool:
        """Whether the next start must resynchronise the queue first."""
        return self.resync_asked is not None or not self.synced

    def desync(self, why: str) -> None:
        """The prediction can no longer be trusted (until the next sync)."""
        if self.synced:
            self.synced, self.problem = False, why
