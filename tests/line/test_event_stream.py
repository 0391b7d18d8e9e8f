"""The line event stream: publishing never blocks; a full subscriber is told what it missed."""

from __future__ import annotations

import asyncio

import pytest

from drivers.interfaces import Verdict
from linectl.line.events import (
    AlarmCleared,
    AlarmRaised,
    Counters,
    EventStream,
    Missed,
    PoolLevel,
    StateChanged,
    VerdictWritten,
)


def verdict(seq: int) -> VerdictWritten:
    return VerdictWritten(seq, Verdict.GOOD, None, 1.5)


async def test_a_subscriber_reads_events_in_the_order_published() -> None:
    stream = EventStream()
    sub = stream.subscribe()
    stream.publish(StateChanged("IDLE", "STARTING"))
    stream.publish(AlarmRaised("pool-low", "3 left", holds=False))
    stream.publish(AlarmCleared("pool-low"))
    assert [await sub.get() for _ in range(3)] == [
        StateChanged("IDLE", "STARTING"),
        AlarmRaised("pool-low", "3 left", holds=False),
        AlarmCleared("pool-low"),
    ]


async def test_a_full_subscriber_loses_events_and_its_next_read_says_how_many() -> None:
    stream = EventStream()
    stalled = stream.subscribe(maxsize=3)
    for seq in range(10):
        stream.publish(verdict(seq))  # returns at once: nobody reads
    assert await stalled.get() == Missed(7)
    assert [await stalled.get() for _ in range(3)] == [verdict(0), verdict(1), verdict(2)]
    assert stalled.get_nowait() is None


async def test_a_stalled_subscriber_does_not_hold_back_another() -> None:
    stream = EventStream()
    stalled = stream.subscribe(maxsize=1)
    reader = stream.subscribe(maxsize=100)
    for seq in range(50):
        stream.publish(verdict(seq))
    assert [reader.get_nowait() for _ in range(50)] == [verdict(s) for s in range(50)]
    assert stalled.get_nowait() == Missed(49)


async def test_level_events_are_coalesced_to_the_latest_and_never_overflow() -> None:
    stream = EventStream()
    sub = stream.subscribe(maxsize=1)
    for n in range(100):
        stream.publish(Counters({"verdicts_good": n}))
        stream.publish(PoolLevel(1000 - n))
    events = [sub.get_nowait(), sub.get_nowait(), sub.get_nowait()]
    assert Counters({"verdicts_good": 99}) in events and PoolLevel(901) in events
    assert events[2] is None and sub.missed == 0


async def test_a_waiting_subscriber_wakes_when_an_event_is_published() -> None:
    stream = EventStream()
    sub = stream.subscribe()
    waiting = asyncio.create_task(sub.get())
    await asyncio.sleep(0)
    stream.publish(StateChanged(None, "IDLE"))
    assert await waiting == StateChanged(None, "IDLE")


async def test_a_subscriber_re_reads_the_snapshot_after_missing_events() -> None:
    stream = EventStream(snapshot=lambda: {"state": {"name": "EXECUTE"}})
    sub = stream.subscribe(maxsize=1)
    stream.publish(verdict(1))
    stream.publish(verdict(2))
    assert isinstance(await sub.get(), Missed)
    assert sub.snapshot() == {"state": {"name": "EXECUTE"}}


async def test_a_closed_subscription_receives_nothing_more() -> None:
    stream = EventStream()
    sub = stream.subscribe()
    sub.close()
    stream.publish(verdict(1))
    assert stream.subscribers == 0 and sub.get_nowait() is None


def test_a_subscription_needs_room_for_one_event() -> None:
    with pytest.raises(ValueError):
        EventStream().subscribe(maxsize=0)


async def test_skipped_events_are_never_queued_never_counted_missed_and_wake_no_one() -> None:
    stream = EventStream()
    sub = stream.subscribe(maxsize=2)
    sub.skip = frozenset({VerdictWritten})
    waiting = asyncio.ensure_future(sub.get())
    await asyncio.sleep(0)  # let it wait
    for seq in range(1, 11):
        stream.publish(verdict(seq))
    await asyncio.sleep(0)
    assert not waiting.done() and sub.missed == 0
    stream.publish(PoolLevel(5))
    assert await waiting == PoolLevel(5)


async def test_a_throttled_level_event_waits_for_its_interval_and_is_then_the_latest() -> None:
    stream = EventStream()
    sub = stream.subscribe()
    sub.level_interval_s = 0.3
    loop = asyncio.get_running_loop()
    stream.publish(Counters({"verdicts_good": 1}))
    assert sub.get_nowait() == Counters({"verdicts_good": 1})
    handed_out = loop.time()
    for n in range(2, 51):
        stream.publish(Counters({"verdicts_good": n}))
    stream.publish(verdict(7))  # a discrete event is never held back
    assert sub.get_nowait() == verdict(7)
    assert sub.get_nowait() is None  # the counters are not due yet
    assert await sub.get() == Counters({"verdicts_good": 50})
    assert loop.time() - handed_out >= 0.3 * 0.9  # loop clock granularity


async def test_a_level_event_held_while_a_reader_waits_wakes_it_when_due() -> None:
    stream = EventStream()
    sub = stream.subscribe()
    sub.level_interval_s = 0.1
    stream.publish(PoolLevel(10))
    assert sub.get_nowait() == PoolLevel(10)
    waiting = asyncio.ensure_future(sub.get())  # waits with nothing held
    await asyncio.sleep(0)
    stream.publish(PoolLevel(9))  # not due yet: held, and the waiter must still be woken
    async with asyncio.timeout(5):
        assert await waiting == PoolLevel(9)
