"""The ledger refused a write for a reason outside the data (disk full, I/O error, locked file).

Nothing is dropped: each writer (pack outcomes, audit rows) keeps what it could not write and
retries every :data:`RETRY_S` until it goes through. Meanwhile the holding alarm ``ledger``
carries the first cause (a later failure only counts), and an operator's Unhold is refused
until every retrying writer has written again (issue 15, defect 4).
"""

from __future__ import annotations

from linectl.ledger import LedgerUnavailable
from linectl.line.alarms import Alarms

RETRY_S = 2.0
CODE = "ledger"


class LedgerTrouble:
    """Which writers are waiting for the ledger, and the one alarm that says so."""

    def __init__(self, alarms: Alarms) -> None:
        self._alarms = alarms
        self._waiting: dict[str, str] = {}  # writer -> its last error
        self._first: str | None = None

    def failed(self, writer: str, exc: LedgerUnavailable, *, retrying: bool = True) -> None:
        """``writer`` could not write; ``retrying``: it holds the data and tries again."""
        if retrying:
            self._waiting[writer] = str(exc)
        if self._first is None or not self._alarms.active(CODE):
            self._first = (
                f"ledger write failed ({writer}): {exc}; nothing is lost: the line holds and "
                f"the write is retried every {RETRY_S:.0f} s: free space on the ledger's disk "
                "(or fix it), then Unhold"
            )
        self._alarms.raise_(CODE, self._first, holds=True)

    def written(self, writer: str) -> None:
        """``writer`` wrote again."""
        self._waiting.pop(writer, None)

    @property
    def healthy(self) -> bool:
        """No writer is waiting for the ledger (so an Unhold may clear the alarm)."""
        return not self._waiting

    def waiting(self) -> dict[str, str]:
        """Writers still waiting, with their last error."""
        return dict(self._waiting)
