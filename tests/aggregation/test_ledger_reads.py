"""The ledger reads the packer and rework use instead of SQL of their own (issue 9)."""

from __future__ import annotations

import pytest

from linectl.ledger import ContainerError, UnitResult, UnknownWorkOrder, Verdict
from linectl.ledger.aggregation import AggregationTx
from linectl.lifecycle import EventFactory, record_verdicts
from tests.aggregation.conftest import LINE, Line


def gs1_128(sscc: str) -> str:
    """What a reader sends for the GS1-128 code of a label."""
    return f"]C100{sscc}"


def commission(line: Line, seqs: range, verdict: Verdict = Verdict.GOOD) -> list[str]:
    """Units of B1 judged at the PLC sequence numbers ``seqs``."""
    taken = line.ledger.take_for_encoding(line.batch, len(seqs))
    reason = None if verdict is Verdict.GOOD else "no-read"
    units = [
        UnitResult(s, q, verdict, grade="A", reason=reason)
        for s, q in zip(taken, seqs, strict=True)
    ]
    factory = EventFactory(LINE, line.ledger.get_work_order(line.batch))
    record_verdicts(line.ledger, factory, units, clock=line.clock)
    return taken


def test_unpacked_after_last_case_lists_good_units_after_the_last_one_packed(line: Line) -> None:
    good = commission(line, range(100, 110))
    commission(line, range(110, 112), Verdict.REJECT)
    late = commission(line, range(112, 114))
    everything = list(zip(range(100, 110), good, strict=True)) + list(
        zip(range(112, 114), late, strict=True)
    )
    assert line.ledger.unpacked_after_last_case("B1") == everything

    (case,) = line.packer.add_units(good[:6])  # a full case of 4, and 2 units in the next
    line.rework.remove_unit(case.sscc, good[1], actor="qa", reason="damaged box")
    # after seq 105 (the last packed); not the unit rework took out, nor the rejects
    assert line.ledger.unpacked_after_last_case("B1") == list(
        zip(range(106, 110), good[6:], strict=True)
    ) + list(zip(range(112, 114), late, strict=True))
    assert line.ledger.unpacked_after_last_case("NO-SUCH-BATCH") == []


def test_a_transaction_counts_what_a_pallet_holds_and_lists_its_cases(line: Line) -> None:
    units = line.commission(12)
    closed = line.packer.add_units(units[:8])
    for case in closed:
        line.packer.verify_label(case.sscc, gs1_128(case.sscc))
    pallet = line.packer.pallet
    assert pallet is not None
    with line.ledger.containers.transaction() as tx:
        assert list(tx.contents(pallet).children) == sorted(c.sscc for c in closed)
        counted = tx.count(pallet)
        assert (counted.cases, counted.units) == (2, 8)
        assert [u.serial for u in tx.units_in(closed[0].sscc)] == units[:4]
        assert tx.count(closed[0].sscc).units == 4
        with pytest.raises(ContainerError):
            tx.count("009506000000099999")


def test_a_transaction_reads_orphans_and_the_work_order(line: Line) -> None:
    units = line.commission(6)
    line.packer.add_units(units[:4])
    with line.ledger.containers.transaction() as tx:
        assert tx.orphans("B1") == units[4:]
        assert tx.work_order("B1").gtin == line.factory.work_order.gtin
        with pytest.raises(UnknownWorkOrder):
            tx.work_order("B9")


def test_queued_since_a_mark_lists_exactly_the_events_queued_after_it(line: Line) -> None:
    units = line.commission(4)
    before = line.head()
    with line.ledger.containers.transaction() as tx:
        mark = tx.outbox_mark()
        assert mark == before
        assert tx.queued_since(mark) == []
    (case,) = line.packer.add_units(units)  # commissioning of the SSCC, then the packing
    with line.ledger.containers.transaction() as tx:
        queued = tx.queued_since(mark)
        assert [kind for kind, _ in queued] == ["commissioning", "packing"]
        assert tx.outbox_mark() > mark
        known = tx.announced_children(line.packer.events.parent_ids(case.sscc))
        assert {i.qualifier for i in known} == set(units)


def test_the_transaction_connection_is_not_public() -> None:
    assert "conn" not in vars(AggregationTx)
    assert not hasattr(AggregationTx, "conn")
