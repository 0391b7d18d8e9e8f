"""Work orders: validated, created -> started -> closed, close guards Encoded serials."""

from __future__ import annotations

from typing import Any

import pytest

from linectl.ledger import (
    EncodedSerialsRemain,
    Ledger,
    SerialState,
    UnknownWorkOrder,
    ValidationError,
    WorkOrderExists,
    WorkOrderStateError,
    WorkOrderStatus,
)
from tests.ledger.conftest import GTIN, new_batch

GOOD: dict[str, Any] = {
    "batch": "PO-2025/001",
    "gtin": GTIN,
    "lot": "LOT42",
    "expiry": "270200",
    "quantity": 5000,
    "target_market": "DE",
    "actor": "alice",
}


def test_a_work_order_keeps_what_it_was_given(ledger: Ledger) -> None:
    order = ledger.create_work_order(**GOOD, materials={"carton": "C-1", "label roll": "R-7"})
    assert order.status is WorkOrderStatus.CREATED
    stored = ledger.get_work_order("PO-2025/001")
    assert stored == order
    assert stored.materials == {"carton": "C-1", "label roll": "R-7"}
    assert stored.expiry == "270200"


def test_a_short_gtin_is_padded_to_fourteen_digits(ledger: Ledger) -> None:
    order = ledger.create_work_order(**(GOOD | {"gtin": GTIN[1:]}))
    assert order.gtin == GTIN


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("gtin", GTIN[:-1] + str((int(GTIN[-1]) + 1) % 10), "check digit"),
        ("gtin", "12345", "14 digits"),
        ("expiry", "271301", "month 13"),
        ("expiry", "270230", "day 30 does not exist"),
        ("expiry", "2712", "YYMMDD"),
        ("lot", "LOT 42", "position 4"),
        ("quantity", 0, "positive"),
        ("target_market", " ", "empty"),
        ("batch", "", "empty"),
    ],
)
def test_a_bad_field_is_named_with_its_value(
    ledger: Ledger, field: str, value: object, message: str
) -> None:
    with pytest.raises(ValidationError, match=message) as caught:
        ledger.create_work_order(**(GOOD | {field: value}))
    assert caught.value.field == field
    assert caught.value.value == value
    assert ledger.list_work_orders() == []


def test_a_batch_id_can_be_used_once(ledger: Ledger) -> None:
    ledger.create_work_order(**GOOD)
    with pytest.raises(WorkOrderExists, match="PO-2025/001"):
        ledger.create_work_order(**GOOD)


def test_a_work_order_goes_created_started_closed(ledger: Ledger) -> None:
    ledger.create_work_order(**GOOD)
    started = ledger.start_work_order("PO-2025/001", actor="alice")
    assert started.status is WorkOrderStatus.STARTED and started.started_at
    with pytest.raises(WorkOrderStateError, match="started"):
        ledger.start_work_order("PO-2025/001", actor="alice")
    closed = ledger.close_work_order("PO-2025/001", actor="alice")
    assert closed.status is WorkOrderStatus.CLOSED and closed.closed_at
    with pytest.raises(WorkOrderStateError, match="closed already"):
        ledger.close_work_order("PO-2025/001", actor="alice")


def test_close_refuses_while_serials_are_encoded(ledger: Ledger) -> None:
    new_batch(ledger, n=4)
    taken = ledger.take_for_encoding("B1", 3)
    with pytest.raises(EncodedSerialsRemain) as caught:
        ledger.close_work_order("B1", actor="alice")
    assert caught.value.count == 3
    assert caught.value.examples == taken
    assert "3 serials are still Encoded" in str(caught.value)
    assert ledger.get_work_order("B1").status is WorkOrderStatus.STARTED
    ledger.transition(taken, SerialState.LABEL_SCRAPPED, "line", "lost in crash")
    assert ledger.close_work_order("B1", actor="alice").status is WorkOrderStatus.CLOSED


def test_work_orders_list_by_status(ledger: Ledger) -> None:
    new_batch(ledger, "B1")
    new_batch(ledger, "B2", start=False)
    assert [o.batch for o in ledger.list_work_orders()] == ["B1", "B2"]
    assert [o.batch for o in ledger.list_work_orders(WorkOrderStatus.CREATED)] == ["B2"]


def test_an_unknown_batch_is_named(ledger: Ledger) -> None:
    with pytest.raises(UnknownWorkOrder, match="'NOPE'"):
        ledger.get_work_order("NOPE")
    with pytest.raises(UnknownWorkOrder):
        ledger.take_for_encoding("NOPE", 1)
