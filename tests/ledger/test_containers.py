"""Cases and pallets: SSCC checked, open -> closed -> reopened -> closed, packing and trace."""

from __future__ import annotations

import pytest

from linectl.ledger import (
    ContainerError,
    ContainerLevel,
    ContainerState,
    Ledger,
    OutboxEvent,
    SerialState,
    UnitResult,
    ValidationError,
    Verdict,
)
from standards.gs1.checkdigit import make_sscc
from tests.ledger.conftest import new_batch

CASE = make_sscc(0, "9506000", 1)
CASE2 = make_sscc(0, "9506000", 2)
PALLET = make_sscc(3, "9506000", 1)


def commissioned(ledger: Ledger, n: int) -> list[str]:
    new_batch(ledger, n=n)
    taken = ledger.take_for_encoding("B1", n)
    ledger.record_units([UnitResult(s, i, Verdict.GOOD) for i, s in enumerate(taken)])
    return taken


def test_a_container_needs_a_valid_unused_sscc(ledger: Ledger) -> None:
    with pytest.raises(ValidationError, match="check digit"):
        ledger.containers.create(CASE[:-1] + str((int(CASE[-1]) + 1) % 10), "case", actor="line")
    ledger.containers.create(CASE, ContainerLevel.CASE, actor="line")
    with pytest.raises(ContainerError, match="already used"):
        ledger.containers.create(CASE, ContainerLevel.CASE, actor="line")


def test_a_container_closes_reopens_and_closes_again(ledger: Ledger) -> None:
    ledger.containers.create(CASE, "case", actor="line")
    assert ledger.containers.close(CASE, actor="line").state is ContainerState.CLOSED
    with pytest.raises(ContainerError, match="closed; cannot go to closed"):
        ledger.containers.close(CASE, actor="line")
    assert (
        ledger.containers.reopen(CASE, actor="bob", reason="rework").state
        is ContainerState.REOPENED
    )
    assert ledger.containers.close(CASE, actor="bob").state is ContainerState.CLOSED


def test_commissioned_units_pack_into_an_open_case(ledger: Ledger) -> None:
    units = commissioned(ledger, 4)
    ledger.containers.create(CASE, "case", actor="line", batch="B1")
    packing = OutboxEvent("agg-1", "packing", {"parentID": CASE})
    assert ledger.containers.pack(CASE, units[:3], actor="line", events=[packing]) == 3
    assert ledger.containers.contents(CASE).serials == tuple(units[:3])
    assert [e.event_id for e in ledger.trace(units[0]).events] == ["agg-1"]
    with pytest.raises(ContainerError, match="already in"):
        ledger.containers.pack(CASE, units[2:], actor="line")
    assert ledger.containers.contents(CASE).serials == tuple(units[:3])


def test_only_commissioned_units_can_be_packed(ledger: Ledger) -> None:
    items = new_batch(ledger, n=2)
    ledger.containers.create(CASE, "case", actor="line")
    with pytest.raises(ContainerError, match="Allocated; only Commissioned"):
        ledger.containers.pack(CASE, items, actor="line")


def test_a_closed_case_takes_nothing_until_reopened(ledger: Ledger) -> None:
    units = commissioned(ledger, 2)
    ledger.containers.create(CASE, "case", actor="line")
    ledger.containers.close(CASE, actor="line")
    with pytest.raises(ContainerError, match="reopen it first"):
        ledger.containers.pack(CASE, units, actor="line")
    ledger.containers.reopen(CASE, actor="bob", reason="late pack")
    assert ledger.containers.pack(CASE, units, actor="line") == 2


def test_trace_follows_the_unit_up_through_case_and_pallet(ledger: Ledger) -> None:
    units = commissioned(ledger, 2)
    ledger.containers.create(CASE, "case", actor="line", batch="B1")
    ledger.containers.create(PALLET, "pallet", actor="line", batch="B1")
    ledger.containers.pack(CASE, units, actor="line")
    ledger.containers.close(CASE, actor="line")
    ledger.containers.set_parent(CASE, PALLET, actor="line")
    trace = ledger.trace(units[0])
    assert [c.sscc for c in trace.containers] == [CASE, PALLET]
    assert trace.state is SerialState.COMMISSIONED
    assert [h.to_state for h in trace.history] == [
        SerialState.ALLOCATED,
        SerialState.ENCODED,
        SerialState.COMMISSIONED,
    ]
    assert ledger.containers.contents(PALLET).children == (CASE,)


def test_only_cases_go_on_pallets(ledger: Ledger) -> None:
    ledger.containers.create(CASE, "case", actor="line")
    ledger.containers.create(CASE2, "case", actor="line")
    with pytest.raises(ContainerError, match="not a pallet"):
        ledger.containers.set_parent(CASE, CASE2, actor="line")


def test_unpacking_takes_units_out_of_the_case(ledger: Ledger) -> None:
    units = commissioned(ledger, 2)
    ledger.containers.create(CASE, "case", actor="line")
    ledger.containers.pack(CASE, units, actor="line")
    assert ledger.containers.unpack(CASE, units[:1], actor="bob", reason="damaged") == 1
    assert ledger.containers.contents(CASE).serials == tuple(units[1:])
    assert ledger.trace(units[0]).containers == ()
    assert ledger.verify_audit().ok
