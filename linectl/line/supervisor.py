"""The line's one task supervisor, and ending tasks at shutdown without hanging on one.

:class:`Supervisor` keeps every background task of the line (named) in a set until it is done;
a task that dies with an exception is handed to ``on_failure`` (the line raises the holding
alarm ``task-failed``), never lost.

A task can swallow its cancel (a library that catches CancelledError, or Python 3.11's
``asyncio.wait_for`` when the awaited reply arrives with the cancel), and awaiting it then hangs
the daemon's SIGTERM for ever. :func:`cancel_tasks` cancels, waits a bounded time, cancels the
stragglers once more, and names those that still run in the log instead of waiting for them.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Coroutine, Iterable
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


class Supervisor:
    """Named background tasks, each watched until done (see the module docstring)."""

    def __init__(self, on_failure: Callable[[asyncio.Task[Any]], None]) -> None:
        self._on_failure = on_failure
        self._tasks: set[asyncio.Task[Any]] = set()
        self.failures: list[str] = []

    def spawn(self, coro: Coroutine[Any, Any, Any], name: str) -> asyncio.Task[Any]:
        """Run ``coro`` as task ``linectl NAME``, watched."""
        task = asyncio.create_task(coro, name=f"linectl {name}")
        self._tasks.add(task)
        task.add_done_callback(self._done)
        return task

    def _done(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            exc = task.exception()
            log.error("task %s failed", task.get_name(), exc_info=exc)
            self.failures.append(f"{task.get_name()}: {exc!r}")
            self._on_failure(task)

    def tasks(self, prefix: str = "") -> set[asyncio.Task[Any]]:
        """The running tasks whose name (after ``linectl ``) starts with ``prefix``."""
        whole = f"linectl {prefix}"
        return {t for t in self._tasks if t.get_name().startswith(whole)}

    async def wait(self, prefix: str, timeout_s: float) -> None:
        """Wait (bounded) for the tasks named ``prefix...`` to end by themselves."""
        tasks = self.tasks(prefix)
        if tasks:
            await asyncio.wait(tasks, timeout=timeout_s)

    async def cancel(self, prefix: str = "", *, keep: Iterable[str] = ()) -> None:
        """Cancel the tasks named ``prefix...`` but those whose name starts with one in ``keep``
        (bounded, see :func:`cancel_tasks`)."""
        spared = tuple(f"linectl {name}" for name in keep)
        await cancel_tasks({t for t in self.tasks(prefix) if not t.get_name().startswith(spared)})
