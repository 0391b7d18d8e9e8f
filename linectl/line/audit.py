"""Line events to the ledger's audit trail, in order, written off the event loop."""

from __future__ import annotations

import asyncio
import contextlib
import logging

from linectl.ledger import Ledger, LedgerError, LedgerUnavailable
from linectl.line.ledger_trouble import RETRY_S, LedgerTrouble

log = logging.getLogger("linectl.runtime")


class AuditTrail:
    """Queues audit rows (state changes, commands, alarms) and writes them in a worker thread."""

    def __init__(self, ledger: Ledger, trouble: LedgerTrouble | None = None) -> None:
        self._ledger = ledger
        self._trouble = trouble  # None: a row the ledger refuses is logged and dropped
        self._queue: asyncio.Queue[tuple[str, str, str, object, object]] = asyncio.Queue()

    def record(self, command: str, actor: str, reason: str, before: object, after: object) -> None:
        """Append a row (never blocks; the writer task writes it)."""
        self._queue.put_nowait((command, actor, reason, before, after))

    async def run(self) -> None:
        """The ``audit`` task: write the rows in order, forever."""
        while True:
            command, actor, reason, before, after = await self._queue.get()
            try:
                while True:
                    try:
                        await asyncio.to_thread(
                            self._ledger.record_event, actor, command, reason, before, after
                        )
                    except LedgerUnavailable as exc:
                        if self._trouble is None:
                            raise
                        self._trouble.failed("audit trail", exc)  # kept, and tried again
                        await asyncio.sleep(RETRY_S)
                    else:
                        if self._trouble is not None:
                            self._trouble.written("audit trail")
                        break
            except LedgerError as exc:
                log.error("audit row %s not written: %s", command, exc)
            finally:
                self._queue.task_done()

    async def drain(self, timeout_s: float = 5.0) -> None:
        """Wait (bounded) until every queued row is written."""
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(timeout_s):
                await self._queue.join()
