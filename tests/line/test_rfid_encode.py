"""An RFID printer on the line: the feeder sends each unit's EPC, the print watch notes each
label's read-back on its pack, and the verdict rejects ``rfid-encode`` when the tag was not
encoded or its outcome is not known in time (fail-safe). Stages against fakes of their seams."""

from __future__ import annotations

import asyncio
import time
from typing import Any

from drivers.interfaces import EncodeOutcome, Frame, PrinterStatus, RfidPrinter, Verdict
from linectl.line.feeder import Feeder
from linectl.line.packs import PackRecord
from linectl.line.printing import PrintWatch, encodes_rfid
from linectl.line.reasons import RejectReason
from linectl.line.verify import Check
from standards.epc.binary import sgtin_epc
from tests.line.fakes import FakePlc, FakePrinter, Seams
from tests.line.test_inspection import GOOD, FakeVerifier, inspection
from tests.line.test_printing import CONTENT, GTIN, FakeLedger


class FakeRfidPrinter(FakePrinter):
    """A printer with an RFID encoder whose read-backs a test hands in."""

    def __init__(self, encodes: bool = True) -> None:
        super().__init__()
        self.encodes = encodes
        self.outcomes: list[EncodeOutcome] = []

    @property
    def encodes_rfid(self) -> bool:
        return self.encodes

    def encode_outcomes(self) -> list[EncodeOutcome]:
        taken, self.outcomes = self.outcomes, []
        return taken


def feeder(seams: Seams, printer: FakePrinter, **kw: Any) -> Feeder:
    return Feeder(
        printer, FakeLedger(10), seams.tracker, seams.packs,  # type: ignore[arg-type]
        depth=2, chunk=4, on_taken=lambda taken, exhausted: None, **kw,
    )  # fmt: skip


def watch(seams: Seams, printer: FakePrinter) -> PrintWatch:
    return PrintWatch(
        printer, seams.tracker, seams.health, seams.alarms,  # type: ignore[arg-type]
        poll_s=0.0, polled=lambda: None, feed=asyncio.Event(), packs=seams.packs,
    )  # fmt: skip


def tagged(seq: int, encoded: bool | None) -> PackRecord:
    return PackRecord(
        seq=seq, serial=f"S{seq}", data="data", printed_at="t", epc="30" * 12, encoded=encoded
    )


async def test_the_feeder_sends_each_units_sgtin_epc_to_an_rfid_printer() -> None:
    seams, printer = Seams(), FakeRfidPrinter()
    assert isinstance(printer, RfidPrinter) and encodes_rfid(printer)
    f = feeder(seams, printer, rfid_prefix=7)
    f.activate("B1", CONTENT)
    seams.tracker.sync(1, 0)
    assert await f.top_up()
    for job in printer.jobs:
        record = seams.packs.get(job.seq)
        assert record is not None
        assert job.epc == record.epc == sgtin_epc(GTIN, record.serial, 7).hex
    assert len(printer.jobs[0].epc or "") == 52  # "S0000" is alphanumeric: SGTIN-198
    await f.settled()


async def test_without_rfid_the_jobs_carry_no_epc() -> None:
    seams, printer = Seams(), FakePrinter()
    assert not encodes_rfid(printer) and not encodes_rfid(FakeRfidPrinter(encodes=False))
    f = feeder(seams, printer)
    f.activate("B1", CONTENT)
    seams.tracker.sync(1, 0)
    assert await f.top_up()
    assert all(j.epc is None for j in printer.jobs)
    assert all(r.epc is None for r in seams.packs.in_order())
    await f.settled()


async def test_the_print_watch_notes_each_read_back_on_its_pack() -> None:
    seams, printer = Seams(), FakeRfidPrinter()
    for seq in (1, 2, 3):
        seams.packs.add(tagged(seq, None))
    printer.outcomes = [
        EncodeOutcome(1, "30" * 12),  # the EPC sent: encoded
        EncodeOutcome(2, None),  # void label
        EncodeOutcome(3, "31" * 12),  # read back something else
        EncodeOutcome(99, "30" * 12),  # no such pack in flight: ignored
    ]
    await watch(seams, printer).poll()
    assert [seams.packs.get(s).encoded for s in (1, 2, 3)] == [True, False, False]  # type: ignore[union-attr]
    assert printer.outcomes == []


async def test_a_printer_without_rfid_is_not_asked_for_read_backs() -> None:
    seams, printer = Seams(), FakeRfidPrinter(encodes=False)
    seams.packs.add(tagged(1, None))
    printer.outcomes = [EncodeOutcome(1, "30" * 12)]
    await watch(seams, printer).poll()
    assert seams.packs.get(1).encoded is None  # type: ignore[union-attr]


async def verdict_for(record: PackRecord, check: Check = GOOD, deadline_ms: float = 20.0) -> Any:
    seams, plc = Seams(), FakePlc()
    seams.mirror.verifier = FakeVerifier(check)  # type: ignore[assignment]
    seams.packs.add(record)
    await inspection(seams, plc, deadline_ms=deadline_ms).on_frame(
        Frame(record.seq, 1, 1, b"\0", time.time_ns())
    )
    (written,) = plc.verdicts
    return written


async def test_a_good_code_on_an_encoded_tag_is_good() -> None:
    assert await verdict_for(tagged(1, True)) == (1, Verdict.GOOD, 0)


async def test_a_void_label_is_rejected_rfid_encode() -> None:
    code = RejectReason.RFID_ENCODE.plc_code
    assert await verdict_for(tagged(2, False)) == (2, Verdict.REJECT, code)


async def test_an_encode_outcome_unknown_at_the_deadline_is_rejected_rfid_encode() -> None:
    code = RejectReason.RFID_ENCODE.plc_code
    assert await verdict_for(tagged(3, None)) == (3, Verdict.REJECT, code)


async def test_an_encode_outcome_with_no_time_left_to_await_it_is_late() -> None:
    seams, plc = Seams(), FakePlc()
    seams.mirror.verifier = FakeVerifier(GOOD)  # type: ignore[assignment]
    stage = inspection(seams, plc, deadline_ms=100.0)
    seams.packs.add(tagged(6, None))
    two_seconds_ago = time.time_ns() - 2_000_000_000
    await stage.on_frame(Frame(6, 1, 1, b"\0", two_seconds_ago))
    assert plc.verdicts == [(6, Verdict.REJECT, RejectReason.LATE.plc_code)]
    assert not stage.print_wanted.is_set() and seams.tally.counters["verdicts_late"] == 1


async def test_a_bad_code_keeps_its_own_reason_before_the_tags() -> None:
    bad = Check.reject(RejectReason.WRONG_CONTENT, "other batch")
    code = RejectReason.WRONG_CONTENT.plc_code
    assert await verdict_for(tagged(4, False), bad) == (4, Verdict.REJECT, code)


async def test_a_verdict_waits_for_the_read_back_through_the_printing_stage() -> None:
    """The inspection asks for a printer poll; the print watch's poll brings the read-back."""
    seams, plc, printer = Seams(), FakePlc(), FakeRfidPrinter()
    seams.mirror.verifier = FakeVerifier(GOOD)  # type: ignore[assignment]
    stage = inspection(seams, plc, deadline_ms=5000.0)
    printing = watch(seams, printer)
    seams.tracker.sync(5, 0)
    record = tagged(5, None)
    record.printed_at = None
    seams.packs.add(record)
    seams.tracker.add(record)
    judged = asyncio.create_task(stage.on_frame(Frame(5, 1, 1, b"\0", time.time_ns())))
    await stage.print_wanted.wait()
    printer.state = PrinterStatus(ready=True, print_count=1)  # printed, and its tag read back
    printer.outcomes = [EncodeOutcome(5, "30" * 12)]
    await printing.poll()
    stage.printer_polled()
    await judged
    assert plc.verdicts == [(5, Verdict.GOOD, 0)]
    assert record.printed and record.encoded
