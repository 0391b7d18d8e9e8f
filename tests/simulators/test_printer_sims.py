"""Printer simulators on a virtual line: print-ahead queue, print defects, faults, print log."""

from __future__ import annotations

import asyncio
import json
import random
from pathlib import Path

import pytest
import zxingcpp

from drivers.interfaces import PrintJob
from drivers.wsi.codec import WsiHostConnection, update_user_field
from drivers.zpl.codec import ZplDeviceConnection, build_label
from simulators.line import Defect, LineLayout, Pack, VirtualLine
from simulators.marking import split_ais
from simulators.print_engine import PrintEngine, QueuedJob, other_batch, parse_defects
from simulators.printer_wsi import WsiPrinterSimulator
from simulators.printer_zpl import ZplPrinterSimulator

GS = "\x1d"


def code(serial: int) -> str:
    return "0109506000134352" + "17271231" + "10LOT42" + GS + f"21SN{serial:06d}"


def engine_with(*serials: int, **kwargs: object) -> PrintEngine:
    engine = PrintEngine("test", **kwargs)  # type: ignore[arg-type]
    for s in serials:
        engine.enqueue(QueuedJob(code(s)))
    return engine


def test_each_pack_takes_the_next_queued_job_in_order() -> None:
    engine = engine_with(1, 2)
    packs = [Pack(seq=n) for n in (10, 11, 12)]
    for pack in packs:
        engine.on_pack(pack)
    assert [p.printed for p in packs] == [code(1), code(2), None]
    assert [p.intended for p in packs] == [code(1), code(2), None]
    assert engine.count == 2 and [r.seq for r in engine.log] == [10, 11]


def test_faulted_or_disabled_printer_leaves_packs_unmarked_and_keeps_the_job() -> None:
    engine = engine_with(1)
    engine.set_fault("head-open")
    engine.on_pack(blocked := Pack(seq=1))
    engine.set_fault("head-open", False)
    engine.enabled = False
    engine.on_pack(off := Pack(seq=2))
    engine.enabled = True
    engine.on_pack(ok := Pack(seq=3))
    assert (blocked.printed, off.printed, ok.printed) == (None, None, code(1))
    assert engine.count == 1


def test_no_print_defect_consumes_the_job_and_marks_nothing() -> None:
    engine = engine_with(1, 2)
    engine.on_pack(miss := Pack(seq=1, defect=Defect.NO_PRINT))
    engine.on_pack(next_pack := Pack(seq=2))
    assert miss.printed is None and miss.intended == code(1)
    assert next_pack.printed == code(2)
    assert engine.count == 2


def test_wrong_content_keeps_the_gtin_but_changes_lot_and_serial() -> None:
    engine = engine_with(1, seed=7)
    engine.on_pack(pack := Pack(seq=1, defect=Defect.WRONG_CONTENT))
    assert pack.printed is not None and pack.printed != code(1)
    marked, intended = dict(split_ais(pack.printed)), dict(split_ais(code(1)))
    assert marked["01"] == intended["01"] and marked["17"] == intended["17"]
    assert marked["10"] != intended["10"] and marked["21"] != intended["21"]


def test_wrong_content_of_an_sscc_is_another_valid_sscc() -> None:
    other = other_batch("00106141411234567897", random.Random(3))
    assert other.startswith("00") and len(other) == 20 and other != "00106141411234567897"
    from standards.gs1.checkdigit import check_digit as gs1_check_digit

    assert gs1_check_digit(other[2:19]) == other[19]


def test_duplicate_defect_re_marks_the_previous_code() -> None:
    engine = engine_with(1, 2)
    engine.on_pack(first := Pack(seq=1))
    engine.on_pack(dup := Pack(seq=2, defect=Defect.DUPLICATE))
    assert dup.printed == first.printed == code(1)
    assert dup.intended == code(2)


def test_reprint_mode_repeats_the_last_job_when_nothing_is_queued() -> None:
    engine = engine_with(1, reprint_last_when_empty=True)
    engine.on_pack(Pack(seq=1))
    engine.on_pack(again := Pack(seq=2))
    assert again.printed == code(1)


def test_print_log_file_proves_no_serial_was_printed_twice(tmp_path: Path) -> None:
    log_path = tmp_path / "prints.jsonl"
    engine = engine_with(*range(30), log_path=log_path, seed=1)
    rng = random.Random(5)
    for seq in range(1, 31):
        defect = rng.choice([None, None, None, Defect.DUPLICATE, Defect.NO_PRINT])
        engine.on_pack(Pack(seq=seq, defect=defect))
    engine.close()
    records = [json.loads(line) for line in log_path.read_text().splitlines()]
    assert len(records) == 30 and [r["n"] for r in records] == list(range(1, 31))
    genuine = [r["data"] for r in records if r["data"] and r["defect"] != "duplicate"]
    assert len(genuine) == len(set(genuine))
    duplicates = [r for r in records if r["defect"] == "duplicate"]
    assert duplicates and all(r["data"] in genuine for r in duplicates)


def test_defect_rates_parse_and_reject_nonsense() -> None:
    assert parse_defects("no-print=0.5, duplicate=0.1") == {
        Defect.NO_PRINT: 0.5,
        Defect.DUPLICATE: 0.1,
    }
    with pytest.raises(ValueError, match="no-such"):
        parse_defects("no-such=0.1")
    with pytest.raises(ValueError, match=r"within 0\.\.1"):
        parse_defects("no-print=2")


# --- the simulators, in process ------------------------------------------------------------------


async def test_zpl_label_rendered_by_the_simulator_decodes_to_the_intended_string() -> None:
    line = VirtualLine(LineLayout())
    sim = ZplPrinterSimulator(line)
    data = code(7)
    conn = ZplDeviceConnection()
    conn.receive_data(build_label(PrintJob(seq=1, data=data, hri=("GTIN 09506000134352",))))
    sim._on_label(conn.next_event())  # type: ignore[arg-type]
    (result,) = zxingcpp.read_barcodes(sim.render(sim.labels[0]), text_mode=zxingcpp.TextMode.Plain)
    assert result.text == data
    assert GS in result.text
    assert result.symbology_identifier == "]d2"
    assert result.content_type == zxingcpp.ContentType.GS1


async def test_zpl_simulator_marks_packs_as_the_line_moves() -> None:
    line = VirtualLine(LineLayout())
    sim = ZplPrinterSimulator(line)
    port = await sim.start()
    try:
        _, writer = await asyncio.open_connection("127.0.0.1", port)
        for serial in (1, 2):
            writer.write(build_label(PrintJob(seq=serial, data=code(serial))))
        await writer.drain()
        async with asyncio.timeout(5):
            await sim.engine.wait_queued(2)
        await line.tick()
        await line.tick()
        printed = [r.data for r in sim.engine.log]
        assert printed == [code(1), code(2)]
        assert [r.host_seq for r in sim.engine.log] == [1, 2]
        writer.close()
    finally:
        await sim.close()


async def test_wsi_simulator_queues_on_the_code_field_only() -> None:
    line = VirtualLine(LineLayout())
    sim = WsiPrinterSimulator(line)
    port = await sim.start()
    try:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        host = WsiHostConnection()
        writer.write(host.send(update_user_field("HRI1", "LOT42")))
        writer.write(host.send(update_user_field("CODE", code(3))))
        await writer.drain()
        async with asyncio.timeout(5):
            replies = b""
            while len(replies) < 6:
                replies += await reader.read(100)
        assert replies == b"$%02X$%02X" % (
            update_user_field("HRI1", "LOT42").checksum,
            update_user_field("CODE", code(3)).checksum,
        )
        assert [j.data for j in sim.engine.queue] == [code(3)]
        assert sim.engine.queue[0].hri == ("LOT42",)
        writer.close()
    finally:
        await sim.close()
