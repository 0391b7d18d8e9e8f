"""Which job lands on which pack, and which prints the printer's counter confirms."""

from __future__ import annotations

import pytest

from linectl.line.packs import PackRecord
from linectl.line.printahead import PrintAhead


def loaded(tracker: PrintAhead, n: int) -> list[PackRecord]:
    records = []
    for i in range(n):
        record = PackRecord(seq=tracker.next_seq, serial=f"S{i}", data=f"D{i}")
        tracker.add(record)
        records.append(record)
    return records


def test_jobs_go_on_the_packs_after_the_last_one_at_the_printer() -> None:
    tracker = PrintAhead()
    assert not tracker.synced
    tracker.sync(next_seq=41, print_count=1000)
    records = loaded(tracker, 3)
    assert [r.seq for r in records] == [41, 42, 43]
    assert tracker.queued == 3 and tracker.next_seq == 44


def test_the_counter_confirms_prints_in_queue_order() -> None:
    tracker = PrintAhead()
    tracker.sync(next_seq=1, print_count=7)
    records = loaded(tracker, 4)
    assert tracker.observe(7, "t0") == []
    assert tracker.observe(9, "t1") == records[:2]
    assert [r.printed for r in records] == [True, True, False, False]
    assert records[0].printed_at == "t1" and tracker.queued == 2


def test_a_counter_running_ahead_of_the_jobs_breaks_the_prediction() -> None:
    tracker = PrintAhead()
    tracker.sync(next_seq=1, print_count=0)
    loaded(tracker, 2)
    tracker.observe(3, "t")
    assert not tracker.synced and "3 prints" in (tracker.problem or "")


def test_a_counter_going_back_breaks_the_prediction() -> None:
    tracker = PrintAhead()
    tracker.sync(next_seq=1, print_count=10)
    loaded(tracker, 2)
    tracker.observe(11, "t")
    assert tracker.observe(5, "t") == [] and not tracker.synced


def test_a_resync_rebases_the_jobs_still_queued_onto_the_next_packs() -> None:
    tracker = PrintAhead()
    tracker.sync(next_seq=1, print_count=0)
    records = loaded(tracker, 4)
    tracker.observe(1, "t")
    moved = tracker.sync(next_seq=10, print_count=1, keep=tracker.outstanding())
    assert [r.seq for r in records[1:]] == [10, 11, 12]
    assert [old for old, _ in moved] == [2, 3, 4]
    assert tracker.queued == 3 and tracker.next_seq == 13


def test_cancelling_forgets_the_queued_jobs() -> None:
    tracker = PrintAhead()
    tracker.sync(next_seq=1, print_count=0)
    records = loaded(tracker, 3)
    tracker.observe(1, "t")
    assert tracker.cancel("stopped") == records[1:]
    assert tracker.outstanding() == [] and not tracker.synced
    assert tracker.cancel("again") == []


def test_a_job_must_be_for_the_next_seq() -> None:
    tracker = PrintAhead()
    tracker.sync(next_seq=5, print_count=0)
    with pytest.raises(ValueError, match="seq 5 is next"):
        tracker.add(PackRecord(seq=6, serial="S", data="D"))
