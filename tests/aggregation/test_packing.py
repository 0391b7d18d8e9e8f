"""The line's packer: cases fill in line order, close with their packing event, get verified
labels and go onto pallets; SSCCs are commissioned before anything names them."""

from __future__ import annotations

from pathlib import Path

import jsonschema
import pytest

from linectl.aggregation import (
    PackingService,
    RangeSsccSource,
    SsccStock,
    SsccUnavailable,
    sscc_source_for,
)
from linectl.config import PackingSettings, SsccRange, SsccSection
from linectl.ledger import ContainerError, ContainerLevel, ContainerState, Ledger
from standards.gs1.epc import format_sgtin, format_sscc
from tests.aggregation.conftest import (
    CASE_RANGE,
    LINE,
    Line,
    event_clock,
    make_line,
    schema_errors,
)
from tests.ledger.conftest import GTIN


def urn(serial: str) -> str:
    return format_sgtin(GTIN, serial, LINE.identifier_form, LINE.company_prefix_length)


def sscc_urn(sscc: str) -> str:
    return format_sscc(sscc, LINE.identifier_form, LINE.company_prefix_length)


def gs1_128(sscc: str) -> str:
    """What a reader sends for the GS1-128 code of a label."""
    return f"]C100{sscc}"


def test_units_fill_cases_in_line_order_and_a_full_case_closes(line: Line) -> None:
    units = line.commission(10)
    closed = line.packer.add_units(units[:3])
    assert closed == []
    closed = line.packer.add_units(units[3:10])
    assert [c.container.state for c in closed] == [ContainerState.CLOSED] * 2
    first, second = (c.sscc for c in closed)
    assert line.ledger.containers.contents(first).serials == tuple(units[:4])
    assert line.ledger.containers.contents(second).serials == tuple(units[4:8])
    status = line.packer.status()
    assert status.case is not None and status.case_units == 2
    assert line.ledger.containers.contents(status.case).serials == tuple(units[8:10])
    assert line.ledger.verify_audit().ok


def test_the_sscc_is_commissioned_before_the_packing_event_that_names_it(
    line: Line, schema: jsonschema.Draft7Validator
) -> None:
    units = line.commission(4)
    head = line.head()
    (case,) = line.packer.add_units(units)
    events = line.bodies(head)
    assert [(e["type"], e["bizStep"]) for e in events] == [
        ("ObjectEvent", "commissioning"),
        ("AggregationEvent", "packing"),
    ]
    commissioning, packing = events
    assert commissioning["epcList"] == [sscc_urn(case.sscc)]
    assert "ilmd" not in commissioning  # an SSCC carries no lot or expiry
    assert packing["action"] == "ADD"
    assert packing["parentID"] == sscc_urn(case.sscc)
    assert packing["childEPCs"] == [urn(s) for s in units]
    assert schema_errors(schema, events) == []


def test_a_case_closes_with_its_event_in_one_transaction(line: Line) -> None:
    units = line.commission(4)
    (case,) = line.packer.add_units(units)
    trace = line.ledger.trace(units[0])
    assert [c.sscc for c in trace.containers] == [case.sscc]
    assert [e.kind for e in trace.events] == ["commissioning", "packing"]
    closes = [a for a in line.ledger.audit_entries(limit=1000) if a.command == "containers.close"]
    assert len(closes) == 1 and case.sscc in closes[0].after
    assert "ni:///sha-256;" in closes[0].after  # the packing event is named in the close's row


def test_a_verified_label_puts_the_case_on_a_pallet_that_closes_when_full(
    line: Line, schema: jsonschema.Draft7Validator
) -> None:
    units = line.commission(12)
    head = line.head()
    cases = line.packer.add_units(units)
    assert len(cases) == 3
    outcomes = [line.packer.verify_label(c.sscc, gs1_128(c.sscc)) for c in cases]
    assert [o.action for o in outcomes] == ["accepted"] * 3
    assert outcomes[0].closed_pallet is None and outcomes[1].closed_pallet is None
    pallet = outcomes[2].closed_pallet
    assert pallet is not None and pallet.container.state is ContainerState.CLOSED
    assert line.ledger.containers.contents(pallet.sscc).children == tuple(
        sorted(c.sscc for c in cases)
    )
    assert (pallet.label.units, pallet.label.cases) == (12, 3)
    events = line.bodies(head)
    pallet_events = [
        e for e in events if sscc_urn(pallet.sscc) in (e.get("parentID"), *e.get("epcList", []))
    ]
    assert [e["bizStep"] for e in pallet_events] == ["commissioning", "packing"]
    assert pallet_events[1]["childEPCs"] == [sscc_urn(c.sscc) for c in cases]
    assert schema_errors(schema, events) == []
    assert [c.sscc for c in line.ledger.trace(units[0]).containers] == [cases[0].sscc, pallet.sscc]
    assert line.ledger.verify_audit().ok


def test_a_failed_label_read_leaves_the_case_closed_and_unaccepted(line: Line) -> None:
    (case,) = line.packer.add_units(line.commission(4))
    wrong = line.packer.verify_label(case.sscc, gs1_128(CASE_RANGE.sscc(777)))
    assert (wrong.action, wrong.attempts) == ("reprint", 1)
    assert "expected" in wrong.check.reason
    stored = line.ledger.containers.get(case.sscc)
    assert (stored.state, stored.parent) == (ContainerState.CLOSED, None)
    assert line.packer.status().awaiting_label == (case.sscc,)
    unread = line.packer.verify_label(case.sscc, None)
    assert (unread.action, unread.attempts, unread.check.reason) == ("divert", 2, "no read")
    assert line.packer.status().diverted == (case.sscc,)
    assert line.ledger.containers.get(case.sscc).parent is None
    good = line.packer.verify_label(case.sscc, f"]d2{case.label.content_data}")
    assert good.accepted and line.ledger.containers.get(case.sscc).parent is not None
    assert line.packer.status().awaiting_label == ()
    verifications = [
        a for a in line.ledger.audit_entries(limit=1000) if a.command == "label.verify"
    ]
    assert len(verifications) == 3


def test_a_partial_case_closes_by_command_and_an_empty_one_does_not(line: Line) -> None:
    assert line.packer.close_case(reason="batch end") is None
    units = line.commission(2)
    line.packer.add_units(units)
    closed = line.packer.close_case(reason="partial case at batch end")
    assert closed is not None and closed.partial and closed.label.units == 2
    assert line.ledger.containers.get(closed.sscc).state is ContainerState.CLOSED
    assert line.packer.status().case is None


def test_a_partial_pallet_closes_by_command(line: Line) -> None:
    (case,) = line.packer.add_units(line.commission(4))
    line.packer.verify_label(case.sscc, gs1_128(case.sscc))
    pallet = line.packer.close_pallet(reason="batch end")
    assert pallet is not None and pallet.partial and pallet.label.cases == 1
    assert line.packer.close_pallet() is None


def test_the_packer_resumes_where_the_ledger_stands(tmp_path: Path) -> None:
    made = make_line(tmp_path / "ledger.db")
    units = made.commission(10)
    first, second = made.packer.add_units(units)
    made.packer.verify_label(first.sscc, gs1_128(first.sscc))
    open_case = made.packer.status().case
    pallet = made.packer.status().pallet
    # a restart: a new service on the same ledger
    again = PackingService(
        made.ledger,
        made.factory,
        RangeSsccSource(made.ledger, CASE_RANGE),
        PackingSettings(case_size=4, pallet_size=3),
        clock=event_clock(),
    )
    status = again.resume()
    assert (status.case, status.case_units, status.pallet) == (open_case, 2, pallet)
    assert status.awaiting_label == (second.sscc,)  # closed, label never verified
    more = made.commission(2)
    (third,) = again.add_units(more)
    assert third.sscc == open_case
    assert made.ledger.containers.contents(third.sscc).serials == (*units[8:], *more)
    made.ledger.close()


def test_range_sscc_continue_after_the_highest_in_use_and_run_out(tmp_path: Path) -> None:
    made = make_line(tmp_path / "ledger.db")
    tiny = SsccRange("9506000", 5, 1, 2)
    packer = PackingService(
        made.ledger, made.factory, RangeSsccSource(made.ledger, tiny), PackingSettings(4, 0)
    )
    cases = packer.add_units(made.commission(8))
    assert [c.sscc for c in cases] == [tiny.sscc(1), tiny.sscc(2)]
    with pytest.raises(SsccUnavailable, match="0 references left"):
        packer.add_units(made.commission(1))
    made.ledger.close()


async def test_an_sscc_stock_hands_out_each_provisioned_sscc_once(tmp_path: Path) -> None:
    with Ledger(tmp_path / "ledger.db") as ledger:
        stock = SsccStock(ledger, tmp_path / "ssccs.txt")
        await stock.add_ssccs([CASE_RANGE.sscc(5), CASE_RANGE.sscc(6)])
        first = stock.next_sscc()
        assert first == CASE_RANGE.sscc(5) and stock.available() == 2
        ledger.containers.create(first, ContainerLevel.CASE, actor="line")
        reread = SsccStock(ledger, tmp_path / "ssccs.txt")  # a restart: the stock is in the ledger
        assert reread.next_sscc() == CASE_RANGE.sscc(6) and reread.available() == 1
        good = CASE_RANGE.sscc(7)
        bad = good[:-1] + str((int(good[-1]) + 1) % 10)
        with pytest.raises(ValueError, match="check digit"):
            reread.add([good, bad])
        assert reread.available() == 1  # nothing of a refused refill is stored
        assert not (tmp_path / "ssccs.txt").exists()  # no side file: the ledger keeps them


def test_a_unit_that_is_not_commissioned_is_refused_and_nothing_is_packed(line: Line) -> None:
    good = line.commission(2)
    allocated = line.ledger.list_serials("B1", limit=1000)[-1]
    with pytest.raises(ContainerError, match="only Commissioned units"):
        line.packer.add_units([good[0], allocated])
    case = line.packer.status().case
    assert case is not None and line.ledger.containers.contents(case).serials == ()
    assert line.packer.add_units(good) == []
    assert line.ledger.containers.contents(case).serials == tuple(good)


def test_a_case_closed_behind_the_packers_back_is_left_for_a_new_one(line: Line) -> None:
    units = line.commission(3)
    line.packer.add_units(units[:1])
    first = line.packer.status().case
    assert first is not None
    line.rework.close(first, actor="bob", reason="closed at the station")
    line.packer.add_units(units[1:])
    second = line.packer.status().case
    assert second not in (None, first)
    assert line.ledger.containers.contents(second or "").serials == tuple(units[1:])


def test_a_verified_pallet_label_accepts_the_pallet_and_opens_nothing(line: Line) -> None:
    cases = line.packer.add_units(line.commission(12))
    outcome = None
    for case in cases:
        outcome = line.packer.verify_label(case.sscc, gs1_128(case.sscc))
    assert outcome is not None and outcome.closed_pallet is not None
    pallet = outcome.closed_pallet.sscc
    assert line.packer.status().awaiting_label == (pallet,)
    assert line.packer.verify_label(pallet, gs1_128(pallet)).accepted
    status = line.packer.status()
    assert (status.pallet, status.awaiting_label) == (None, ())
    pallets = line.ledger.containers.find(level=ContainerLevel.PALLET)
    assert [p.sscc for p in pallets] == [pallet]


def test_only_a_closed_container_has_its_label_verified(line: Line) -> None:
    line.packer.add_units(line.commission(1))
    case = line.packer.status().case
    assert case is not None
    with pytest.raises(ContainerError, match="is not closed"):
        line.packer.verify_label(case, gs1_128(case))


def test_the_configured_sscc_source_is_the_range_or_the_provisioned_stock(tmp_path: Path) -> None:
    with Ledger(tmp_path / "ledger.db") as ledger:
        ranged = SsccSection(
            source="range", company_prefix="9506000", first_reference=10, last_reference=20
        )
        source = sscc_source_for(ledger, ranged, None)
        assert source.next_sscc() == SsccRange("9506000", 0, 10, 20).sscc(10)
        central = SsccSection(source="central", collection_id="SSCC-1")
        assert isinstance(sscc_source_for(ledger, central, tmp_path / "s.txt"), SsccStock)
        # the stock lives in the ledger: without a stock file to import, it is the ledger's alone
        stock = sscc_source_for(ledger, central, None)
        assert isinstance(stock, SsccStock) and stock.path is None
        with pytest.raises(SsccUnavailable, match="pool manager must send more"):
            stock.next_sscc()
