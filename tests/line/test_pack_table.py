"""The pack table: the one owner of seq -> pack record."""

from __future__ import annotations

from linectl.line.packs import PackRecord, PackTable


def record(seq: int) -> PackRecord:
    return PackRecord(seq=seq, serial=f"S{seq}", data=f"D{seq}")


def test_a_gate_report_takes_its_pack_out_of_the_table() -> None:
    table = PackTable()
    table.add(record(5))
    taken = table.take(5)
    assert taken is not None and taken.serial == "S5"
    assert table.take(5) is None and len(table) == 0


def test_packs_the_gate_went_past_are_taken_in_seq_order() -> None:
    table = PackTable()
    for seq in (9, 3, 7, 12):
        table.add(record(seq))
    assert [r.seq for r in table.take_through(9)] == [3, 7, 9]
    assert [r.seq for r in table.in_order()] == [12]


def test_discarding_a_re_keyed_record_leaves_its_successor_alone() -> None:
    table = PackTable()
    old = record(4)
    table.add(old)
    newer = record(4)
    table.add(newer)
    table.discard([old])
    assert table.get(4) is newer


def test_take_all_empties_the_table_in_seq_order() -> None:
    table = PackTable()
    for seq in (2, 1, 3):
        table.add(record(seq))
    assert [r.seq for r in table.take_all()] == [1, 2, 3]
    assert len(table) == 0 and 2 not in table
