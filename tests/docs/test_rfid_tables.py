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


def test_printer_table_says_which_printer_drivers_encode_tags() -> None:
    from drivers.interfaces import RfidPrinter
    from drivers.registry import DRIVERS, DeviceParams, open_device

    rows = only_table("printer", "protocol", "encodes RFID tags")
    documented = {r[1]: r[2].startswith("yes") for r in rows}
    printers = sorted(p for k, p in DRIVERS if k == "printer")
    assert sorted(documented) == printers
    for protocol in printers:
        driver = open_device(
            DeviceParams(name="p", kind="printer", protocol=protocol, host="127.0.0.1", port=1)
        )
        assert isinstance(driver, RfidPrinter) == documented[protocol], protocol


def test_inlay_fault_table_is_the_simulators() -> None:
    from simulators.rfid_inlay import RATE_KEYS, InlayFault

    rows = only_table("inlay fault", "`[simulation.rfid]` key")
    assert [r[0] for r in rows] == [f.value for f in InlayFault]
    assert {r[1]: r[0] for r in rows} == {key: f.value for key, f in RATE_KEYS.items()}


def test_the_encoding_example_is_what_the_driver_sends() -> None:
    from drivers.zpl.rfid import encode_commands
    from standards.epc.binary import sgtin_epc

    text = PAGE.read_text(encoding="utf-8")
    block = text.split("## Encoding on the printer", 1)[1].split("```", 2)[1].strip()
    assert block.splitlines() == encode_commands(1042, sgtin_epc("09506000134352", "1234", 7).hex)
