"""The inspection stage against fakes of its seams: camera, PLC, decoder and verifier."""

from __future__ import annotations

import asyncio
import time

from drivers.camera.decode import DecodeResult, Symbol
from drivers.interfaces import DeviceError, Frame, Verdict
from linectl.line.events import VerdictWritten
from linectl.line.inspection import Inspection
from linectl.line.packs import PackRecord
from linectl.line.reasons import RejectReason
from linectl.line.verify import Check
from tests.line.fakes import FakeCamera, FakePlc, Seams, drain

SYMBOL = Symbol("data", b"data", "datamatrix", "]d2", "gs1", ((0, 0),) * 4, 0, "22x22", None, 1.0)  # type: ignore[arg-type]


class FakeDecoder:
    threads = 1

    async def decode(self, frame: Frame) -> DecodeResult:
        return DecodeResult(frame.seq, (SYMBOL,), 0.1)


class FakeVerifier:
    """Judges every decoded frame ``check``."""

    def __init__(self, check: Check) -> None:
        self.result = check

    def check(self, result: DecodeResult, expected: object, *, mark: bool | None = None) -> Check:
        return self.result


def inspection(
    seams: Seams, plc: FakePlc, *, deadline_ms: float = 100.0, limit: int = 3
) -> Inspection:
    return Inspection(
        FakeCamera(), plc, FakeDecoder(), None, seams.packs, seams.mirror,  # type: ignore[arg-type]
        seams.tally, seams.alarms, seams.health, seams.tracker, seams.events, seams.supervisor,
        deadline_ms=deadline_ms, reject_limit=limit,
    )  # fmt: skip


def pack(seq: int, *, printed: bool = True) -> PackRecord:
    return PackRecord(seq=seq, serial=f"S{seq}", data="data", printed_at="t" if printed else None)


GOOD = Check(good=True, reason=None, grade="A", serial="S1")


async def test_a_printed_pack_verified_in_time_gets_a_good_verdict() -> None:
    seams, plc = Seams(), FakePlc()
    seams.mirror.verifier = FakeVerifier(GOOD)  # type: ignore[assignment]
    stage = inspection(seams, plc)
    sub = seams.events.subscribe()
    seams.packs.add(pack(1))
    await stage.on_frame(Frame(1, 1, 1, b"\0", time.time_ns()))
    assert plc.verdicts == [(1, Verdict.GOOD, 0)]
    record = seams.packs.get(1)
    assert record is not None and record.verdict is Verdict.GOOD and record.written
    assert seams.tally.counters["verdicts_good"] == 1 and "S1" in stage.verified_good
    (event,) = [e for e in drain(sub) if isinstance(e, VerdictWritten)]
    assert event.seq == 1 and event.verdict is Verdict.GOOD and event.reason is None


async def test_late_verdict_is_a_reject() -> None:
    seams, plc = Seams(), FakePlc()
    seams.mirror.verifier = FakeVerifier(GOOD)  # type: ignore[assignment]
    stage = inspection(seams, plc, deadline_ms=100.0)
    seams.packs.add(pack(2))
    two_seconds_ago = time.time_ns() - 2_000_000_000
    await stage.on_frame(Frame(2, 1, 1, b"\0", two_seconds_ago))
    assert plc.verdicts == [(2, Verdict.REJECT, RejectReason.LATE.plc_code)]
    assert seams.tally.counters["verdicts_late"] == 1
    record = seams.packs.get(2)
    assert record is not None and record.reason is RejectReason.LATE


async def test_a_good_check_without_print_confirmation_is_a_reject() -> None:
    seams, plc = Seams(), FakePlc()
    seams.mirror.verifier = FakeVerifier(GOOD)  # type: ignore[assignment]
    stage = inspection(seams, plc, deadline_ms=20.0)
    seams.packs.add(pack(3, printed=False))
    await stage.on_frame(Frame(3, 1, 1, b"\0", time.time_ns()))
    assert plc.verdicts == [(3, Verdict.REJECT, RejectReason.NO_PRINT_CONFIRMATION.plc_code)]


async def test_a_good_check_with_no_time_left_to_confirm_the_print_is_late() -> None:
    seams, plc = Seams(), FakePlc()
    seams.mirror.verifier = FakeVerifier(GOOD)  # type: ignore[assignment]
    stage = inspection(seams, plc, deadline_ms=100.0)
    seams.packs.add(pack(6, printed=False))
    two_seconds_ago = time.time_ns() - 2_000_000_000
    await stage.on_frame(Frame(6, 1, 1, b"\0", two_seconds_ago))
    assert plc.verdicts == [(6, Verdict.REJECT, RejectReason.LATE.plc_code)]
    assert not stage.print_wanted.is_set()  # no printer poll asked for a pack already late


async def test_a_good_check_waiting_for_its_print_asks_for_a_printer_poll() -> None:
    seams, plc = Seams(), FakePlc()
    seams.mirror.verifier = FakeVerifier(GOOD)  # type: ignore[assignment]
    stage = inspection(seams, plc, deadline_ms=5000.0)
    record = pack(7, printed=False)
    seams.packs.add(record)
    judged = asyncio.create_task(stage.on_frame(Frame(7, 1, 1, b"\0", time.time_ns())))
    await stage.print_wanted.wait()  # decoded, checked, and now asking the printer watch
    record.printed_at = "2026-12-04T08:00:00.000Z"  # what the printer watch's poll finds
    stage.printer_polled()
    await judged
    assert plc.verdicts == [(7, Verdict.GOOD, 0)]


async def test_a_frame_with_no_batch_active_is_rejected_as_wrong_content() -> None:
    seams, plc = Seams(), FakePlc()
    stage = inspection(seams, plc)
    await stage.on_frame(Frame(4, 1, 1, b"\0", time.time_ns()))
    assert plc.verdicts == [(4, Verdict.REJECT, RejectReason.WRONG_CONTENT.plc_code)]


async def test_rejects_in_a_row_hold_the_line_and_ask_for_a_resync() -> None:
    seams, plc = Seams(), FakePlc()
    stage = inspection(seams, plc, limit=2)
    seams.tracker.sync(1, 0)
    stage.count_reject(pack(1))
    assert not seams.alarms.active("consecutive-rejects") and not seams.tracker.needs_resync
    stage.count_reject(pack(2))
    assert [a.code for a in seams.alarms.holding] == ["consecutive-rejects"]
    assert seams.tracker.needs_resync


async def test_a_verdict_the_plc_did_not_take_counts_as_unsent_and_the_plc_as_lost() -> None:
    seams, plc = Seams(), FakePlc()
    seams.mirror.verifier = FakeVerifier(GOOD)  # type: ignore[assignment]
    stage = inspection(seams, plc)
    plc.fail = DeviceError("timeout")
    seams.packs.add(pack(5))
    await stage.on_frame(Frame(5, 1, 1, b"\0", time.time_ns()))
    assert seams.tally.counters["verdicts_unsent"] == 1
    assert not seams.health.connected("plc")


async def test_every_frame_from_the_camera_gets_its_own_verdict() -> None:
    seams, plc = Seams(), FakePlc()
    seams.mirror.verifier = FakeVerifier(GOOD)  # type: ignore[assignment]
    stage = inspection(seams, plc)
    camera = stage.camera
    for seq in (10, 11, 12):
        seams.packs.add(pack(seq))
        camera.queue.put_nowait(Frame(seq, 1, 1, b"\0", time.time_ns()))  # type: ignore[attr-defined]
    camera.queue.put_nowait(None)  # type: ignore[attr-defined]
    await stage.run()  # returns when the camera closes
    await stage.settle(5.0)
    assert sorted(seq for seq, _, _ in plc.verdicts) == [10, 11, 12]
    assert seams.failed == []
    await seams.supervisor.cancel()


async def test_frames_beyond_the_free_workers_get_a_task_each_and_none_waits() -> None:
    seams, plc = Seams(), FakePlc()
    seams.mirror.verifier = FakeVerifier(GOOD)  # type: ignore[assignment]
    stage = inspection(seams, plc, deadline_ms=60.0)
    stage.workers = 1
    camera = stage.camera
    running = asyncio.create_task(stage.run())
    await asyncio.sleep(0)  # run() starts its worker and waits for the camera
    await asyncio.sleep(0)  # the worker starts and waits for a frame
    assert stage._free == 1
    for seq in (20, 21, 22):  # never printed: each waits for print confirmation to its deadline
        seams.packs.add(pack(seq, printed=False))
        camera.queue.put_nowait(Frame(seq, 1, 1, b"\0", time.time_ns()))  # type: ignore[attr-defined]
    camera.queue.put_nowait(None)  # type: ignore[attr-defined]
    await running
    await stage.settle(5.0)
    reasons = {seq: code for seq, _, code in plc.verdicts}
    # had a frame waited for another one's deadline, it would be late, not "no print confirmation"
    assert reasons == dict.fromkeys((20, 21, 22), RejectReason.NO_PRINT_CONFIRMATION.plc_code)
    await seams.supervisor.cancel()


async def test_a_frame_beyond_the_plcs_32_bit_seqs_is_dropped_and_the_line_goes_on() -> None:
    seams, plc = Seams(), FakePlc()
    seams.mirror.verifier = FakeVerifier(GOOD)  # type: ignore[assignment]
    stage = inspection(seams, plc)
    camera = stage.camera
    seams.packs.add(pack(10))
    for seq in (2**32, 10):
        camera.queue.put_nowait(Frame(seq, 1, 1, b"\0", time.time_ns()))  # type: ignore[attr-defined]
    camera.queue.put_nowait(None)  # type: ignore[attr-defined]
    await stage.run()
    await stage.settle(5.0)
    assert plc.verdicts == [(10, Verdict.GOOD, 0)]
    assert seams.tally.counters["frames_dropped"] == 1
    assert seams.failed == [] and not seams.alarms.holding  # no dead task, no alarm
    await seams.supervisor.cancel()
