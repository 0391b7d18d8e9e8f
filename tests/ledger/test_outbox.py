"""The outbox: events commit with the change that caused them and drain in order."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from linectl.ledger import (
    Delivery,
    DuplicateEvent,
    IllegalTransition,
    Ledger,
    LedgerError,
    OutboxEvent,
    SerialState,
    UnitResult,
    ValidationError,
    Verdict,
)
from tests.ledger.conftest import dump, new_batch


def event(n: int, kind: str = "commissioning", serials: list[str] | None = None) -> OutboxEvent:
    return OutboxEvent(
        f"ni:///sha-256;{n:064x}?ver=CBV2.0", kind, {"type": "ObjectEvent", "n": n}, serials
    )


def test_events_ride_in_the_transaction_of_their_state_change(ledger: Ledger) -> None:
    new_batch(ledger, n=3)
    taken = ledger.take_for_encoding("B1", 3)
    ledger.record_units(
        [UnitResult(s, i, Verdict.GOOD) for i, s in enumerate(taken)], events=[event(1)]
    )
    (entry,) = ledger.outbox.peek()
    assert entry.event_id == event(1).event_id
    assert entry.batch == "B1"
    assert entry.delivery is Delivery.PENDING
    assert json.loads(entry.body) == {"type": "ObjectEvent", "n": 1}
    for serial in taken:  # an event with serials=None mentions every serial of its command
        assert [e.id for e in ledger.trace(serial).events] == [entry.id]


def test_a_refused_change_queues_no_event(ledger: Ledger, ledger_path: Path) -> None:
    items = new_batch(ledger, n=2)
    before = dump(ledger_path)
    with pytest.raises(IllegalTransition):
        ledger.transition(items, SerialState.COMMISSIONED, "alice", "skip", events=[event(1)])
    assert dump(ledger_path) == before
    assert ledger.outbox.peek() == []


def test_a_duplicate_event_id_undoes_the_state_change_too(ledger: Ledger) -> None:
    items = new_batch(ledger, n=2)
    ledger.transition(items[:1], SerialState.UNALLOCATED, "uplink", "returned", events=[event(1)])
    with pytest.raises(DuplicateEvent, match="already in the outbox"):
        ledger.transition(
            items[1:], SerialState.UNALLOCATED, "uplink", "returned", events=[event(1)]
        )
    assert ledger.trace(items[1]).state is SerialState.ALLOCATED
    assert len(ledger.outbox.peek()) == 1


def test_a_body_that_is_not_json_is_refused(ledger: Ledger) -> None:
    bad = OutboxEvent("e-1", "commissioning", "{not json")
    with pytest.raises(ValidationError, match="not JSON"):
        ledger.outbox.append([bad], actor="uplink")


def test_pending_events_come_out_in_order_until_delivered(ledger: Ledger) -> None:
    ids = ledger.outbox.append([event(n) for n in range(5)], actor="line")
    assert ids == sorted(ids)
    assert [e.id for e in ledger.outbox.peek(3)] == ids[:3]
    assert ledger.outbox.mark_delivered(ids[:2]) == 2
    assert ledger.outbox.mark_delivered(ids[:2]) == 0  # idempotent
    assert [e.id for e in ledger.outbox.peek()] == ids[2:]
    assert ledger.outbox.counts() == {"pending": 3, "delivered": 2}


def test_failed_attempts_are_counted_with_the_last_error(ledger: Ledger) -> None:
    (oid,) = ledger.outbox.append([event(1)], actor="line")
    ledger.outbox.record_failure([oid], "503 Service Unavailable")
    ledger.outbox.record_failure([oid], "connection refused")
    (entry,) = ledger.outbox.peek()
    assert (entry.attempts, entry.last_error) == (2, "connection refused")


def test_marking_an_unknown_event_is_an_error(ledger: Ledger) -> None:
    with pytest.raises(LedgerError, match="#99"):
        ledger.outbox.mark_delivered([99])


def test_an_event_can_name_the_serials_it_mentions(ledger: Ledger) -> None:
    items = new_batch(ledger, n=3)
    ledger.outbox.append([event(1, "sampling", serials=items[1:2])], actor="qa")
    assert [len(ledger.trace(s).events) for s in items] == [0, 1, 0]
