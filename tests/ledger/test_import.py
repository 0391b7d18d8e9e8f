"""Importing serials received from upstream: all or nothing, no duplicates, only CSET 82."""

from __future__ import annotations

from pathlib import Path

import pytest

from linectl.ledger import (
    DuplicateSerial,
    Ledger,
    SerialState,
    ValidationError,
    WorkOrderStateError,
)
from tests.ledger.conftest import GTIN, OTHER_GTIN, dump, new_batch, serials


def test_imported_serials_are_allocated_in_the_order_received(ledger: Ledger) -> None:
    new_batch(ledger, n=0)
    items = ["Zz9", "A!%&'()*+,-./:;<=>?_", "00042"]
    assert ledger.import_serials("B1", GTIN, items, "alice") == 3
    assert ledger.list_serials("B1", SerialState.ALLOCATED) == items
    history = ledger.trace("Zz9").history
    assert len(history) == 1
    assert (history[0].from_state, history[0].to_state) == (None, SerialState.ALLOCATED)


def test_a_duplicate_within_the_input_is_refused_naming_both_lines(
    ledger: Ledger, ledger_path: Path
) -> None:
    new_batch(ledger, n=0)
    before = dump(ledger_path)
    with pytest.raises(DuplicateSerial) as caught:
        ledger.import_serials("B1", GTIN, ["A1", "A2", "A3", "A2"], "alice")
    assert caught.value.index == 3
    assert caught.value.value == "A2"
    assert "index 3 (line 4)" in str(caught.value)
    assert "repeats index 1 (line 2)" in str(caught.value)
    assert dump(ledger_path) == before


def test_a_serial_already_in_the_ledger_for_the_gtin_is_refused(
    ledger: Ledger, ledger_path: Path
) -> None:
    new_batch(ledger, "B1", n=0)
    new_batch(ledger, "B2", n=0)
    ledger.import_serials("B1", GTIN, ["X1", "X2"], "alice")
    ledger.take_for_encoding("B1", 1)
    before = dump(ledger_path)
    with pytest.raises(DuplicateSerial) as caught:
        ledger.import_serials("B2", GTIN, ["Y1", "Y2", "X1"], "alice")
    assert caught.value.index == 2
    assert "batch B1, Encoded" in str(caught.value)
    assert dump(ledger_path) == before
    assert ledger.list_serials("B2") == []


def test_the_same_serial_under_another_gtin_is_a_different_item(ledger: Ledger) -> None:
    new_batch(ledger, "B1", n=0)
    new_batch(ledger, "B2", n=0, gtin=OTHER_GTIN)
    ledger.import_serials("B1", GTIN, ["X1"], "alice")
    assert ledger.import_serials("B2", OTHER_GTIN, ["X1"], "alice") == 1


@pytest.mark.parametrize(
    ("bad", "message"),
    [
        ("AB C", "' ' at position 3 is not in GS1 CSET 82"),
        ("ÄB", "'Ä' at position 1"),
        ("A#", "'#' at position 2"),
        ("", "must not be empty"),
        ("X" * 21, "21 characters long, at most 20"),
    ],
)
def test_a_serial_outside_cset82_is_named_by_index_and_value(
    ledger: Ledger, ledger_path: Path, bad: str, message: str
) -> None:
    new_batch(ledger, n=0)
    before = dump(ledger_path)
    with pytest.raises(ValidationError) as caught:
        ledger.import_serials("B1", GTIN, ["OK1", "OK2", bad, "OK3"], "alice")
    assert caught.value.index == 2
    assert caught.value.value == bad
    assert "index 2 (line 3)" in str(caught.value)
    assert message in str(caught.value)
    assert dump(ledger_path) == before


def test_a_bad_item_at_the_very_end_imports_nothing(ledger: Ledger) -> None:
    new_batch(ledger, n=0)
    items = [*serials(999), "bad serial"]
    with pytest.raises(ValidationError, match="index 999"):
        ledger.import_serials("B1", GTIN, items, "alice")
    assert ledger.list_serials("B1") == []


def test_serials_for_another_gtin_than_the_batch_are_refused(ledger: Ledger) -> None:
    new_batch(ledger, n=0)
    with pytest.raises(ValidationError, match=f"packs GTIN {GTIN}"):
        ledger.import_serials("B1", OTHER_GTIN, ["A1"], "alice")


def test_a_closed_batch_takes_no_more_serials(ledger: Ledger) -> None:
    new_batch(ledger, n=1)
    ledger.close_work_order("B1", actor="alice")
    with pytest.raises(WorkOrderStateError, match="closed"):
        ledger.import_serials("B1", GTIN, ["A9"], "alice")


def test_ten_thousand_serials_go_through_their_states_in_bulk(ledger: Ledger) -> None:
    new_batch(ledger, n=0)
    items = serials(10_000)
    assert ledger.import_serials("B1", GTIN, items, "upstream") == 10_000
    encoded = ledger.take_for_encoding("B1", 10_000)
    assert encoded == items
    assert ledger.transition(encoded[:9_000], SerialState.COMMISSIONED, "line", "good") == 9_000
    ledger.transition(encoded[9_000:], SerialState.LABEL_SCRAPPED, "line", "rejected")
    ledger.transition(encoded[:8_000], SerialState.RELEASED, "alice", "shipped")
    counts = ledger.state_counts("B1")
    assert counts == {
        SerialState.RELEASED: 8_000,
        SerialState.COMMISSIONED: 1_000,
        SerialState.LABEL_SCRAPPED: 1_000,
    }
    assert ledger.reconcile("B1").balanced


def test_one_string_instead_of_a_list_is_refused(ledger: Ledger) -> None:
    new_batch(ledger, n=0)
    with pytest.raises(ValidationError, match="one string"):
        ledger.import_serials("B1", GTIN, "ABC", "alice")
    assert ledger.list_serials("B1") == []
