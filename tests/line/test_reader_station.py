"""The smart-reader station against fakes of its seams (reader, PLC): pairing by the trigger."""

from __future__ import annotations

import asyncio
import contextlib
import time
from dataclasses import replace

from drivers.interfaces import DeviceUnavailable, LinkState, ReadResult, Verdict
from linectl.config import CodeForm
from linectl.line.events import DeviceBack
from linectl.line.health import DeviceWatch
from linectl.line.reader_station import ReaderStation
from linectl.line.reasons import RejectReason
from linectl.line.verify import CodeContent, Expected, Verifier
from standards.packml import PackMLState
from tests.line.fakes import FakePlc, Seams
from tests.line.test_inspection import inspection, pack

CONTENT = CodeContent(
    CodeForm.ELEMENT_STRING_DATAMATRIX, gtin="09506000134352", lot="L1", expiry="281130"
)


class FakeReader:
    """A reader (drivers.interfaces.CodeReader) answering from a script; ``during`` runs while
    it reads (the line moving on under it)."""

    read_timeout = 0.5

    def __init__(self, *answers: ReadResult | Exception) -> None:
        self.link_state = LinkState.CONNECTED
        self.answers = list(answers)
        self.triggered: list[int | None] = []
        self.during = lambda: None

    async def connect(self) -> None: ...
    async def close(self) -> None: ...

    async def read(self, seq: int | None = None) -> ReadResult:
        self.triggered.append(seq)
        self.during()
        answer = self.answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return answer


def read_of(seq: int, grade: str = "A") -> ReadResult:
    text = CONTENT.data(f"S{seq}")
    return ReadResult(text, "gs1-datamatrix", grade, detail={"symbology_id": "]d2"})


def station(reader: FakeReader, *seqs: int) -> tuple[ReaderStation, FakePlc, Seams]:
    seams, plc = Seams(), FakePlc()
    seams.health = DeviceWatch({"plc": "plc", "printer": "printer", "reader": "dm"}, {},
                               seams.alarms, seams.events)  # fmt: skip
    issued = {f"S{s}": s for s in seqs}
    seams.mirror.verifier = Verifier(
        CONTENT, "C", issued_to=issued.get, verified=lambda serial: False
    )
    for seq in seqs:
        record = pack(seq)
        seams.packs.add(replace(record, data=CONTENT.data(record.serial)))
    stage = inspection(seams, plc)
    return ReaderStation(reader, plc, stage, seams.packs, seams.mirror, seams.health), plc, seams


def at_camera(plc: FakePlc, seq: int) -> None:
    plc.snap = replace(plc.snap, last_seq_camera=seq)


async def handle(stage: ReaderStation, plc: FakePlc, seq: int) -> None:
    """What the run loop does when the PLC shows ``seq`` at the camera."""
    at_camera(plc, seq)
    nxt, since = await stage.station(seq, time.time_ns())
    while nxt:
        nxt, since = await stage.station(nxt, since)
    await stage.inspection.settle(1.0)


async def test_a_read_paired_with_its_seq_is_verified_like_a_camera_decode() -> None:
    reader = FakeReader(read_of(1))
    stage, plc, _ = station(reader, 1)
    stage.seen = 0
    await handle(stage, plc, 1)
    assert reader.triggered == [1]
    assert plc.verdicts == [(1, Verdict.GOOD, 0)]


async def test_a_reader_grade_below_the_minimum_is_low_grade() -> None:
    stage, plc, seams = station(FakeReader(read_of(1, grade="D")), 1)
    stage.seen = 0
    await handle(stage, plc, 1)
    assert plc.verdicts == [(1, Verdict.REJECT, RejectReason.LOW_GRADE.plc_code)]
    record = seams.packs.get(1)
    assert record is not None and record.grade == "D"


async def test_a_no_read_is_a_reject() -> None:
    stage, plc, _ = station(FakeReader(ReadResult(None)), 1)
    stage.seen = 0
    await handle(stage, plc, 1)
    assert plc.verdicts == [(1, Verdict.REJECT, RejectReason.NO_READ.plc_code)]


async def test_a_read_the_camera_seq_moved_under_is_not_paired_and_the_next_pack_is_read() -> None:
    reader = FakeReader(read_of(2), read_of(2))  # the first read may be 1's or 2's: unknown
    stage, plc, _ = station(reader, 1, 2)
    stage.seen = 0
    reader.during = lambda: at_camera(plc, 2) if reader.triggered == [1] else None
    await handle(stage, plc, 1)
    assert reader.triggered == [1, 2]
    assert sorted(plc.verdicts) == [
        (1, Verdict.REJECT, RejectReason.NO_READ.plc_code),
        (2, Verdict.GOOD, 0),
    ]
    assert stage.unpaired == 1


async def test_packs_that_passed_the_camera_unseen_are_rejected_without_a_trigger() -> None:
    reader = FakeReader(read_of(4))
    stage, plc, seams = station(reader, 2, 3, 4)
    stage.seen = 1
    await handle(stage, plc, 4)
    assert reader.triggered == [4]
    assert sorted(plc.verdicts) == [
        (2, Verdict.REJECT, RejectReason.NO_READ.plc_code),
        (3, Verdict.REJECT, RejectReason.NO_READ.plc_code),
        (4, Verdict.GOOD, 0),
    ]
    record = seams.packs.get(3)
    assert record is not None and "passed the camera" in record.detail


async def test_a_read_that_fails_is_a_reject_and_the_reader_is_lost() -> None:
    stage, plc, seams = station(FakeReader(DeviceUnavailable("no reply within 0.5 s")), 1)
    stage.seen = 0
    await handle(stage, plc, 1)
    assert plc.verdicts == [(1, Verdict.REJECT, RejectReason.NO_READ.plc_code)]
    assert seams.alarms.active("device-lost:dm")
    assert not seams.health.connected("reader")


def verifier() -> Verifier:
    issued = {"S1": 1, "S2": 2}
    return Verifier(CONTENT, "C", issued_to=issued.get, verified=lambda serial: False)


def expected(seq: int) -> Expected:
    return Expected(seq, f"S{seq}", CONTENT.data(f"S{seq}"))


def test_a_read_without_the_gs1_identifier_is_not_gs1() -> None:
    plain = ReadResult(CONTENT.data("S1"), "datamatrix", "A", detail={"symbology_id": "]d1"})
    check = verifier().check_read(plain, expected(1))
    assert check.reason is RejectReason.NOT_GS1 and "]d1" in check.detail
    bare = ReadResult(CONTENT.data("S1"), None, "A")  # the reader's identifier output is off
    assert verifier().check_read(bare, expected(1)).reason is RejectReason.NOT_GS1


def test_a_read_of_another_packs_code_is_a_duplicate() -> None:
    check = verifier().check_read(read_of(2), expected(1))
    assert check.reason is RejectReason.DUPLICATE and "pack 2" in check.detail


def test_a_read_of_another_batch_is_wrong_content() -> None:
    other = CodeContent(
        CodeForm.ELEMENT_STRING_DATAMATRIX, gtin="09506000134352", lot="OLD", expiry="250101"
    )
    read = ReadResult(other.data("S1"), "gs1-datamatrix", "A", detail={"symbology_id": "]d2"})
    check = verifier().check_read(read, expected(1))
    assert check.reason is RejectReason.WRONG_CONTENT and "differs" in check.detail


def test_a_read_without_a_grade_never_passes() -> None:
    check = verifier().check_read(replace(read_of(1), grade=None), expected(1))
    assert check.reason is RejectReason.LOW_GRADE


async def test_a_lost_reader_is_connected_again_while_the_line_stands() -> None:
    reader = FakeReader()
    attempts: list[int] = []

    async def connect() -> None:
        attempts.append(1)
        if len(attempts) < 2:
            raise DeviceUnavailable("connection refused")

    reader.connect = connect  # type: ignore[method-assign]
    stage, _, seams = station(reader)
    stage.retry_s = 0.01
    seams.mirror.plc_state = PackMLState.HELD  # held: no pack moves, nothing is read
    seams.health.lost("reader", DeviceUnavailable("no reply within 0.5 s"))
    sub = seams.events.subscribe()
    task = asyncio.create_task(stage.run())
    try:
        while not isinstance(await sub.get(), DeviceBack):
            pass
        assert seams.health.connected("reader") and len(attempts) == 2
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
