"""The simulated case packer, its case-label printer and reader: the ground truth of aggregation."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest

from drivers.dmcc.client import DmccReader
from drivers.zpl.client import ZplPrinter
from drivers.zpl.codec import NEED_DATA, Label, ZplDeviceConnection
from drivers.zpl.layout import logistic_label_zpl
from linectl.aggregation.labels import ContainerLabel
from linectl.ledger import ContainerLevel
from simulators.case_packer import (
    CASE,
    PALLET,
    CaseLabelPrinter,
    CasePacker,
    PrintedLabel,
    case_label_reader,
    label_from_zpl,
)
from simulators.line import LineLayout, Pack, VirtualLine
from simulators.virtual_line import SimulatorConfigError, build_line
from standards.gs1.checkdigit import check_digit

GTIN = "0950600013435" + check_digit("0950600013435")


def sscc(n: int) -> str:
    body = f"1950600{n:010d}"
    return body + check_digit(body)


def label(n: int, units: int, level: ContainerLevel = ContainerLevel.CASE) -> ContainerLabel:
    return ContainerLabel(sscc(n), level, GTIN, "L1", "281130", units)


def printed(n: int, units: int, level: ContainerLevel = ContainerLevel.CASE) -> PrintedLabel:
    codec = ZplDeviceConnection()
    codec.receive_data(logistic_label_zpl(label(n, units, level)))
    event = codec.next_event()
    assert isinstance(event, Label) and codec.next_event() is NEED_DATA
    found = label_from_zpl(event)
    assert found is not None
    return found


def packer_with(case_size: int, pallet_size: int, **kw: object) -> CasePacker:
    return CasePacker(VirtualLine(LineLayout()), case_size, pallet_size, **kw)  # type: ignore[arg-type]


def feed(packer: CasePacker, seqs: range, rejected: frozenset[int] = frozenset()) -> None:
    for seq in seqs:
        packer.on_pack(Pack(seq, printed=f"CODE{seq}", rejected=seq in rejected))


def test_a_zpl_case_label_yields_its_sscc_level_and_count() -> None:
    case = printed(1, 12)
    assert (case.sscc, case.level, case.count, case.symbology) == (sscc(1), CASE, 12, "datamatrix")
    assert case.data.startswith("00" + sscc(1))
    assert printed(2, 120, ContainerLevel.PALLET).level == PALLET


def test_packs_that_passed_the_gate_fill_cases_in_line_order() -> None:
    packer = packer_with(3, 0)
    feed(packer, range(1, 9), rejected=frozenset({2, 5}))
    first, second = packer.cases
    assert first.seqs == [1, 3, 4] and first.closed and not first.partial
    assert second.seqs == [6, 7, 8] and second.codes == ["CODE6", "CODE7", "CODE8"]
    assert second.closed


def test_a_label_goes_on_the_oldest_unlabelled_case_or_waits_for_one() -> None:
    packer = packer_with(2, 0)
    packer.receive(printed(1, 2))  # sent before the case is full: it waits on the applicator
    assert packer.applied == 0 and len(packer.waiting) == 1
    feed(packer, range(1, 3))
    assert packer.applied == 1 and packer.cases[0].label == printed(1, 2)
    feed(packer, range(3, 7))
    packer.receive(printed(2, 2))
    packer.receive(printed(3, 2))
    assert [c.label.sscc if c.label else None for c in packer.cases] == [sscc(1), sscc(2), sscc(3)]
    packer.receive(printed(2, 2))  # a reprint goes over the old label of its case
    assert packer.applied == 4 and packer.last_labelled is packer.cases[1]


def test_a_partial_label_closes_the_open_case_when_the_count_matches() -> None:
    packer = packer_with(6, 0)
    feed(packer, range(1, 5))
    packer.receive(printed(1, 5))  # five units: the open case holds four, so it waits
    assert packer.applied == 0 and not packer.cases[0].closed
    feed(packer, range(5, 6))
    assert packer.cases[0].closed and packer.cases[0].partial and packer.applied == 1


def test_cases_read_at_the_reader_go_onto_pallets_that_close_at_their_size(
    tmp_path: Path,
) -> None:
    log = tmp_path / "cases.jsonl"
    packer = packer_with(2, 2, log_path=log)
    assert packer.read().text is None  # nothing labelled yet
    for n in range(1, 4):
        feed(packer, range(2 * n - 1, 2 * n + 1))
        packer.receive(printed(n, 2))
        read = packer.read()
        assert read.text is not None and read.text.startswith("00" + sscc(n))
        assert read.symbology_id == "]d2"
    assert [c.pallet for c in packer.cases] == [1, 1, 2]
    assert packer.pallets[0].closed and not packer.pallets[1].closed
    packer.receive(printed(9, 4, ContainerLevel.PALLET))
    assert packer.pallets[0].label is not None and packer.pallets[0].label.sscc == sscc(9)
    assert packer.codes_on_pallet(1) == ["CODE1", "CODE2", "CODE3", "CODE4"]
    packer.close()
    events = [json.loads(line)["event"] for line in log.read_text().splitlines()]
    assert events.count("case") == 3 and events.count("stack") == 3
    assert events.count("pallet") == 1 and events.count("label") == 4


async def test_the_printer_confirms_a_label_once_applied_and_the_reader_reads_it() -> None:
    packer = packer_with(2, 0)
    printer = CaseLabelPrinter(packer)
    reader = case_label_reader("dmcc", packer, seed=3)
    driver = ZplPrinter("127.0.0.1", await printer.start(), reply_timeout=1.0)
    dmcc = DmccReader("127.0.0.1", await reader.start(), read_timeout=1.0)
    try:
        async with asyncio.timeout(10):
            before = (await driver.status()).print_count
            arrived = asyncio.ensure_future(printer.wait_label())
            async with driver.link.exchange() as link:
                await link.write(logistic_label_zpl(label(1, 2)))
            await arrived
            status = await driver.status()
            assert status.print_count == before and status.jobs_queued == 1  # no case yet
            feed(packer, range(1, 3))
            assert (await driver.status()).print_count == before + 1
            reader.fail_next = 1  # type: ignore[attr-defined]
            assert (await dmcc.read()).text is None
            result = await dmcc.read()
            assert result.text is not None
            assert label(1, 2).check(result.detail["symbology_id"] + result.text).ok
    finally:
        await driver.close()
        await dmcc.close()
        await printer.close()
        await reader.close()


def test_the_line_builds_the_case_packer_for_case_label_devices() -> None:
    role = {"role": "case-label"}
    data = {
        "devices": {
            "plc": {"kind": "plc", "protocol": "modbus", "port": 1},
            "labels": {"kind": "printer", "protocol": "zpl", "port": 2, "options": role},
            "scan": {"kind": "reader", "protocol": "keyence", "port": 3, "options": role},
        },
        "aggregation": {"case_size": 5, "pallet_size": 4},
    }
    built = build_line(data, ports_from_config=False)
    assert built.packer is not None and built.packer.case_size == 5
    assert isinstance(built.devices["labels"], CaseLabelPrinter)
    data["devices"]["labels"]["protocol"] = "wsi"
    with pytest.raises(SimulatorConfigError, match=r"devices\.labels: no case-label simulator"):
        build_line(data, ports_from_config=False)
