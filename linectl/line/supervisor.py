"""Ending background tasks at shutdown without hanging on one that will not end.

A task can swallow its cancel (a library that catches CancelledError, or Python 3.11's
``asyncio.wait_for`` when the awaited reply arrives with the cancel), and awaiting it then hangs
the daemon's SIGTERM for ever. :func:`cancel_tasks` cancels, waits a bounded time, cancels the
stragglers once more, and names those that still run in the log instead of waiting for them.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable
from typing import Any

log = logging.getLogger("linectl.runtime")


async def cancel_tasks(
    tasks: Iterable[asyncio.Task[Any]], *, bound_s: float = 2.0
) -> set[asyncio.Task[Any]]:
    """Cancel ``tasks`` and wait for them, at most ``bound_s`` per round (two rounds).

    Returns the tasks that did not end (already logged as errors); their failures are not
    raised (a task's own supervisor reports them).
    """
    tasks = list(tasks)
    waiting = {t for t in tasks if not t.done()}
    for task in waiting:
        task.cancel()
    for round_ in (1, 2):
        if not waiting:
            break
        _, waiting = await asyncio.wait(waiting, timeout=bound_s)
        if waiting and round_ == 1:
            names = ", ".join(sorted(t.get_name() for t in waiting))
            log.warning("tasks still running %.1f s after cancel, cancelling again: %s",
                        bound_s, names)  # fmt: skip
            for task in waiting:
                task.cancel()
    for task in tasks:
        if task.done() and not task.cancelled():
            task.exception()  # retrieved: asyncio would otherwise complain at exit
    for task in waiting:
        log.error("task %s does not end after two cancels: left behind", task.get_name())
    return waiting
