"""docs/rfid.md against the code: EPC schemes, the partition tables, the simulator's faults."""

from __future__ import annotations

from simulators.rfid_reader import WEAK_RSSI_DBM, TagFault
from standards.epc.binary import SGTIN_PARTITIONS, SSCC_PARTITIONS, Scheme
from tests.docs.markdown import DOCS, plain, tables_with_header

PAGE = DOCS / "rfid.md"


def only_table(*header: str) -> list[tuple[str, ...]]:
    tables = tables_with_header(PAGE, *header)
    assert len(tables) == 1, f"docs/rfid.md: expected one table headed {header}"
    return [tuple(plain(c) for c in row.cells) for row in tables[0].rows]


def test_schemes_table_gives_each_scheme_its_header_and_size() -> None:
    rows = only_table("scheme", "header", "bits")
    assert [(r[0], r[1], r[2]) for r in rows] == [
        (s.value, f"0x{s.header:02X}", str(s.bits)) for s in Scheme
    ]


def test_partition_table_is_the_codes() -> None:
    rows = only_table("partition", "company prefix digits", "company prefix bits")
    assert rows == [
        (str(g.value), str(g.prefix_digits), str(g.prefix_bits), str(g.reference_bits),
         str(s.reference_bits))
        for g, s in zip(SGTIN_PARTITIONS, SSCC_PARTITIONS, strict=True)
    ]  # fmt: skip


def test_fault_table_names_every_simulator_fault() -> None:
    rows = only_table("fault", "what the reader reports")
    assert [r[0] for r in rows] == [f.value for f in TagFault]
    assert str(WEAK_RSSI_DBM) in dict(rows)["weak-tag"]
