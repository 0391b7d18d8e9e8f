"""Bulk and single transitions: legal ones apply, any illegal one refuses the whole command."""

from __future__ import annotations

import tempfile
from collections import Counter
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from linectl.ledger import (
    AmbiguousSerial,
    DuplicateSerial,
    IllegalTransition,
    Ledger,
    OutboxEvent,
    SerialState,
    UnknownSerial,
    WorkOrderStateError,
    is_legal,
)
from tests.ledger.conftest import GTIN, OTHER_GTIN, dump, new_batch, step_clock

S = SerialState

Command = tuple[list[int], SerialState]


@settings(max_examples=200, deadline=None, derandomize=True)
@given(
    st.lists(
        st.tuples(
            st.lists(st.integers(0, 5), min_size=1, max_size=6, unique=True),
            st.sampled_from(SerialState),
        ),
        min_size=1,
        max_size=12,
    )
)
def test_illegal_commands_change_nothing_and_legal_ones_apply(commands: list[Command]) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "ledger.db"
        with Ledger(path, clock=step_clock()) as ledger:
            pool = new_batch(ledger, n=6)
            model = dict.fromkeys(pool, S.ALLOCATED)
            for number, (picks, target) in enumerate(commands):
                chosen = [pool[i] for i in picks]
                event = OutboxEvent(f"ni:///sha-256;{number:064x}", "test", {"n": number})
                illegal = [s for s in chosen if not is_legal(model[s], target)]
                if illegal:
                    before = dump(path)
                    with pytest.raises(IllegalTransition) as caught:
                        ledger.transition(chosen, target, "prop", "test", events=[event])
                    first = illegal[0]
                    assert caught.value.serial == first
                    assert caught.value.from_state is model[first]
                    assert caught.value.to_state is target
                    assert caught.value.others == len(illegal) - 1
                    assert dump(path) == before
                else:
                    moved = ledger.transition(chosen, target, "prop", "test", events=[event])
                    assert moved == len(chosen)
                    model.update(dict.fromkeys(chosen, target))
                assert ledger.state_counts("B1") == Counter(model.values())
            assert [ledger.trace(s).state for s in pool] == [model[s] for s in pool]
            assert ledger.verify_audit().ok


def test_one_illegal_serial_in_a_batch_command_stops_them_all(ledger: Ledger) -> None:
    items = new_batch(ledger, n=5)
    ledger.take_for_encoding("B1", 2)  # items[0], items[1] are Encoded, the rest Allocated
    with pytest.raises(IllegalTransition) as caught:
        ledger.transition(items, S.COMMISSIONED, "alice", "bulk")
    assert caught.value.serial == items[2]
    assert caught.value.others == 2
    assert "Allocated -> Commissioned" in str(caught.value)
    assert ledger.state_counts("B1") == {S.ENCODED: 2, S.ALLOCATED: 3}


def test_a_single_transition_is_recorded_in_the_history(ledger: Ledger) -> None:
    items = new_batch(ledger, n=1)
    ledger.transition(items, S.SN_INVALID, "bob", "order cancelled")
    last = ledger.trace(items[0]).history[-1]
    assert (last.from_state, last.to_state, last.actor, last.reason) == (
        S.ALLOCATED,
        S.SN_INVALID,
        "bob",
        "order cancelled",
    )


def test_the_same_serial_twice_in_one_command_is_refused(ledger: Ledger) -> None:
    items = new_batch(ledger, n=2)
    with pytest.raises(DuplicateSerial, match="index 2"):
        ledger.transition([items[0], items[1], items[0]], S.UNALLOCATED, "alice", "return")
    assert ledger.state_counts("B1") == {S.ALLOCATED: 2}


def test_an_unknown_serial_is_named_and_nothing_changes(ledger: Ledger) -> None:
    items = new_batch(ledger, n=2)
    with pytest.raises(UnknownSerial, match="'NOPE' at index 1"):
        ledger.transition([items[0], "NOPE"], S.UNALLOCATED, "alice", "return")
    assert ledger.state_counts("B1") == {S.ALLOCATED: 2}


def test_a_serial_held_under_two_gtins_needs_the_gtin(ledger: Ledger) -> None:
    new_batch(ledger, "B1", n=0)
    new_batch(ledger, "B2", n=0, gtin=OTHER_GTIN)
    ledger.import_serials("B1", GTIN, ["SAME"], "alice")
    ledger.import_serials("B2", OTHER_GTIN, ["SAME"], "alice")
    with pytest.raises(AmbiguousSerial, match=OTHER_GTIN):
        ledger.transition(["SAME"], S.UNALLOCATED, "alice", "return")
    ledger.transition(["SAME"], S.UNALLOCATED, "alice", "return", gtin=OTHER_GTIN)
    assert ledger.trace("SAME", gtin=OTHER_GTIN).state is S.UNALLOCATED
    assert ledger.trace("SAME", gtin=GTIN).state is S.ALLOCATED


def test_encoding_needs_a_started_batch(ledger: Ledger) -> None:
    items = new_batch(ledger, n=2, start=False)
    with pytest.raises(WorkOrderStateError, match="created"):
        ledger.transition(items, S.ENCODED, "alice", "manual print")
    with pytest.raises(WorkOrderStateError, match="created"):
        ledger.take_for_encoding("B1", 1)
    assert ledger.state_counts("B1") == {S.ALLOCATED: 2}


def test_a_single_serial_may_be_given_as_a_string(ledger: Ledger) -> None:
    items = new_batch(ledger, n=2)
    assert ledger.transition(items[0], S.UNALLOCATED, "alice", "returned") == 1
    assert ledger.state_counts("B1") == {S.UNALLOCATED: 1, S.ALLOCATED: 1}


def test_a_command_naming_serials_reports_the_first_problem_in_input_order(ledger: Ledger) -> None:
    new_batch(ledger, n=5)
    known = ledger.list_serials("B1")
    with pytest.raises(UnknownSerial) as unknown:  # before the repeat further on
        ledger.transition([known[0], "NOPE", known[1], known[0]], S.SN_INVALID, "t", "r")
    assert unknown.value.index == 1
    with pytest.raises(DuplicateSerial) as repeat:  # before the unknown one further on
        ledger.transition([known[0], known[1], known[0], "NOPE"], S.SN_INVALID, "t", "r")
    assert repeat.value.index == 2
    assert ledger.state_counts("B1") == {S.ALLOCATED: 5}  # nothing changed
