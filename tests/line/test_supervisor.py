"""The task supervisor: named tasks kept until done; a task that dies is reported, not lost."""

from __future__ import annotations

import asyncio
from typing import Any

from linectl.line.supervisor import Supervisor


async def test_a_task_that_dies_is_reported_with_its_name() -> None:
    failed: list[str] = []
    supervisor = Supervisor(lambda task: failed.append(task.get_name()))

    async def broken() -> None:
        raise RuntimeError("bug")

    task = supervisor.spawn(broken(), "plc")
    await asyncio.wait({task})
    await asyncio.sleep(0)  # the done callback runs on the next loop pass
    assert failed == ["linectl plc"]
    assert supervisor.failures == ["linectl plc: RuntimeError('bug')"]
    assert supervisor.tasks() == set()


async def test_a_task_that_ends_or_is_cancelled_is_no_failure() -> None:
    failed: list[asyncio.Task[Any]] = []
    supervisor = Supervisor(failed.append)
    done = supervisor.spawn(asyncio.sleep(0), "quick")
    forever = supervisor.spawn(asyncio.Event().wait(), "forever")
    await asyncio.wait({done})
    await supervisor.cancel()
    assert forever.cancelled() and failed == [] and supervisor.failures == []


async def test_cancel_spares_the_tasks_named_to_keep() -> None:
    supervisor = Supervisor(lambda task: None)
    keep = supervisor.spawn(asyncio.Event().wait(), "commit")
    frame = supervisor.spawn(asyncio.Event().wait(), "frame 7")
    other = supervisor.spawn(asyncio.Event().wait(), "plc")
    await supervisor.cancel(keep=("commit", "frame "))
    assert other.cancelled() and not keep.done() and not frame.done()
    assert supervisor.tasks("frame ") == {frame}
    await supervisor.cancel("frame ")
    assert frame.cancelled() and not keep.done()
    await supervisor.cancel()
    assert keep.cancelled()
