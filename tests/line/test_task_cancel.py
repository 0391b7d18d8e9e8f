"""Shutdown never hangs on a task that swallows its cancel: bounded waits, two cancels, a log."""

from __future__ import annotations

import asyncio
import logging

import pytest

from linectl.line.supervisor import cancel_tasks


async def test_well_behaved_tasks_end_at_the_first_cancel() -> None:
    started = asyncio.Event()

    async def worker() -> None:
        started.set()
        await asyncio.Event().wait()

    tasks = {asyncio.create_task(worker(), name=f"w{i}") for i in range(3)}
    await started.wait()
    async with asyncio.timeout(5):
        left = await cancel_tasks(tasks, bound_s=1.0)
    assert left == set() and all(t.cancelled() for t in tasks)


async def test_a_task_that_swallows_one_cancel_ends_at_the_second() -> None:
    swallowed = asyncio.Event()

    async def stubborn() -> None:
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            swallowed.set()  # a reply arrived with the cancel, and the cancel got lost
        await asyncio.Event().wait()

    task = asyncio.create_task(stubborn(), name="linectl plc")
    await asyncio.sleep(0)
    async with asyncio.timeout(5):
        left = await cancel_tasks({task}, bound_s=0.05)
    assert swallowed.is_set() and left == set() and task.cancelled()


async def test_a_task_that_never_ends_is_logged_and_left_behind(
    caplog: pytest.LogCaptureFixture,
) -> None:
    may_end = asyncio.Event()
    cancels = 0

    async def immortal() -> None:
        nonlocal cancels
        while not may_end.is_set():
            try:
                await may_end.wait()
            except asyncio.CancelledError:
                cancels += 1

    task = asyncio.create_task(immortal(), name="linectl immortal")
    await asyncio.sleep(0)
    caplog.set_level(logging.WARNING, logger="linectl.runtime")
    async with asyncio.timeout(5):
        left = await cancel_tasks({task}, bound_s=0.05)
    assert left == {task} and cancels == 2 and not task.done()
    assert "linectl immortal does not end after two cancels" in caplog.text
    may_end.set()
    await task


async def test_a_failed_task_is_not_raised_by_the_cancel() -> None:
    async def broken() -> None:
        raise RuntimeError("boom")

    task = asyncio.create_task(broken())
    await asyncio.wait({task})
    async with asyncio.timeout(5):
        assert await cancel_tasks([task], bound_s=0.05) == set()
