"""Which pack each written-ahead serial is meant for, kept in the audit trail for crash recovery.

The feeder hands serials to the printer in the order it wrote them ahead, and the job/pack
prediction (:mod:`linectl.line.printahead`) says which pack each will land on. Before any of a
chunk of serials can leave for the printer, that prediction is appended to the audit trail as a
``line.assign`` row: ``{"batch", "first_seq", "serials"}`` meaning ``serials[i]`` goes on pack
``first_seq + i``. It is written again whenever the prediction is re-based (a resync).

After a crash, a serial left Encoded whose pack the PLC's gate report ring shows as PASSED was
verified GOOD by the crashed daemon (the gate passes only on a GOOD verdict written for that very
seq), so recovery can commission it instead of scrapping a code that is on a pack in the market.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence

from linectl.ledger import Ledger, LineNote

ASSIGN = "line.assign"
LOOKBACK_ROWS = 20_000
"""How far back in the audit trail recovery looks for assignments (minutes of production)."""


def assignment(batch: str, first_seq: int, serials: Sequence[str]) -> LineNote | None:
    """The ``line.assign`` row for ``serials`` (None for none)."""
    if not serials:
        return None
    after = {"batch": batch, "first_seq": first_seq, "serials": list(serials)}
    return LineNote(ASSIGN, "serials written ahead for these packs", after)


def record_assignment(
    ledger: Ledger, batch: str, first_seq: int, serials: Sequence[str], actor: str
) -> None:
    """Append one ``line.assign`` row (blocking: run it in a worker thread)."""
    note = assignment(batch, first_seq, serials)
    if note is not None:
        ledger.record_event(actor, note.command, note.reason, None, note.after)


def latest_assignments(
    ledger: Ledger, serials: Iterable[str], lookback: int = LOOKBACK_ROWS
) -> dict[str, int]:
    """serial -> the pack seq it was last assigned to, for ``serials`` (blocking)."""
    wanted = set(serials)
    head = ledger.audit_head()
    if head is None or not wanted:
        return {}
    found: dict[str, int] = {}
    after_id = max(0, head[0] - lookback)
    while True:
        entries = ledger.audit_entries(after_id=after_id, limit=2000)
        if not entries:
            return found
        for entry in entries:
            if entry.command != ASSIGN:
                continue
            data = json.loads(entry.after)
            first = int(data["first_seq"])
            for i, serial in enumerate(data["serials"]):
                if serial in wanted:
                    found[serial] = first + i  # later rows win
        after_id = entries[-1].id
