"""The print watch, feeding and feeder stages against a fake printer and a fake ledger."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace
from typing import Any

from drivers.interfaces import DeviceError, PrinterStatus
from linectl.config import CodeForm
from linectl.line.events import PoolLevel
from linectl.line.feeder import Feeder
from linectl.line.printing import Feeding, PrintWatch
from linectl.line.reasons import RejectReason
from linectl.line.verify import CodeContent
from standards.gs1.checkdigit import check_digit
from standards.packml import PackMLCommand, PackMLState
from tests.line.fakes import FakePrinter, Seams, drain

GTIN = "0950600013435" + check_digit("0950600013435")
CONTENT = CodeContent(CodeForm.ELEMENT_STRING_DATAMATRIX, gtin=GTIN, lot="L1", expiry="281130")


class FakeLedger:
    """take_for_encoding from a pool of serials; audit rows recorded."""

    def __init__(self, pool: int) -> None:
        self.pool = [f"S{i:04d}" for i in range(pool)]
        self.rows: list[tuple[Any, ...]] = []

    def take_for_encoding(
        self, batch: str, n: int = 1, *, actor: str = "", then: Any = None
    ) -> list[str]:
        taken, self.pool = self.pool[:n], self.pool[n:]
        note = then(taken) if then is not None else None
        if note is not None:  # in the same transaction, as the ledger does
            self.rows.append((actor, note.command, note.reason, None, note.after))
        return taken

    def record_event(self, *args: Any) -> None:
        self.rows.append(args)


def polled_watch(seams: Seams, printer: FakePrinter) -> tuple[PrintWatch, list[int]]:
    polls: list[int] = []
    stage = PrintWatch(
        printer, seams.tracker, seams.health, seams.alarms,  # type: ignore[arg-type]
        poll_s=0.001, polled=lambda: polls.append(1), feed=asyncio.Event(),
    )  # fmt: skip
    return stage, polls


def feeding(seams: Seams, feeder: Feeder, **kw: Any) -> tuple[Feeding, list[tuple[Any, str]]]:
    sent: list[tuple[Any, str]] = []

    async def send(command: PackMLCommand, why: str) -> None:
        sent.append((command, why))

    async def scrap(serials: list[str], reason: RejectReason) -> None:
        sent.append((reason, ",".join(serials)))

    stage = Feeding(
        feeder, seams.tracker, seams.mirror, seams.health, seams.alarms, seams.events,
        seams.tally, seams.supervisor, low_water=kw.pop("low_water", 5), send=send, scrap=scrap,
        **kw,
    )  # fmt: skip
    return stage, sent


def feeder(
    seams: Seams, printer: FakePrinter, ledger: FakeLedger, depth: int = 3, **kw: Any
) -> Feeder:
    return Feeder(
        printer, ledger, seams.tracker, seams.packs,  # type: ignore[arg-type]
        depth=depth, chunk=4, on_taken=lambda taken, exhausted: None, **kw,
    )  # fmt: skip


async def test_the_printer_counter_confirms_the_prints_in_order() -> None:
    seams, printer = Seams(), FakePrinter()
    f = feeder(seams, printer, FakeLedger(10))
    f.activate("B1", CONTENT)
    seams.tracker.sync(1, 0)
    assert await f.top_up()
    assert [j.seq for j in printer.jobs] == [1, 2, 3] and len(seams.packs) == 3
    stage, polls = polled_watch(seams, printer)
    printer.state = PrinterStatus(ready=True, print_count=2)
    await stage.poll()
    printed = [seams.packs.get(s).printed for s in (1, 2, 3)]  # type: ignore[union-attr]
    assert printed == [True, True, False] and polls == [1]
    await f.settled()  # the background write-ahead of the next chunk ends with the test


async def test_a_printer_fault_holds_the_line_and_asks_for_a_resync() -> None:
    seams, printer = Seams(), FakePrinter()
    seams.tracker.sync(1, 0)
    stage, _ = polled_watch(seams, printer)
    printer.state = PrinterStatus(ready=False, print_count=0, faults=("head open",))
    await stage.poll()
    assert [a.code for a in seams.alarms.holding] == ["printer-fault"]
    assert seams.tracker.needs_resync and not stage.ready


async def test_a_printer_that_does_not_answer_is_lost_and_the_queue_must_be_redone() -> None:
    seams, printer = Seams(), FakePrinter()
    seams.tracker.sync(1, 0)
    stage, _ = polled_watch(seams, printer)
    printer.fail = DeviceError("no route")
    await stage.poll()
    assert not seams.health.connected("printer") and seams.tracker.needs_resync


async def test_the_feeder_writes_ahead_and_records_which_pack_each_serial_is_for() -> None:
    seams, printer, ledger = Seams(), FakePrinter(), FakeLedger(10)
    f = feeder(seams, printer, ledger)
    f.activate("B1", CONTENT)
    seams.tracker.sync(5, 0)
    await f.top_up()
    assert [j.data for j in printer.jobs] == [CONTENT.data(s) for s in ("S0000", "S0001", "S0002")]
    assert f.issued == {"S0000": 5, "S0001": 6, "S0002": 7}
    await f.settled()
    assert ledger.rows and ledger.rows[0][1] == "line.assign"


async def test_an_empty_pool_reports_not_enough() -> None:
    seams, printer = Seams(), FakePrinter()
    f = feeder(seams, printer, FakeLedger(2))
    f.activate("B1", CONTENT)
    seams.tracker.sync(1, 0)
    assert not await f.top_up()
    assert len(printer.jobs) == 2
    await f.settled()


async def test_a_starved_line_is_suspended_once_while_producing() -> None:
    seams, printer = Seams(), FakePrinter()
    stage, sent = feeding(seams, feeder(seams, printer, FakeLedger(0)))
    seams.mirror.plc_state = PackMLState.EXECUTE
    stage.starved()
    stage.starved()
    await seams.supervisor.wait("suspend", 1.0)
    assert sent == [(PackMLCommand.SUSPEND, "starved")]
    assert seams.alarms.active("starved") and not seams.alarms.holding


async def test_a_pool_below_low_water_alarms_and_asks_for_a_refill_once_per_dip() -> None:
    seams, printer = Seams(), FakePrinter()
    asked: list[tuple[str, int]] = []
    stage, _ = feeding(
        seams, feeder(seams, printer, FakeLedger(0)), on_pool_low=lambda b, n: asked.append((b, n))
    )
    seams.mirror.batch = SimpleNamespace(batch="B1")  # type: ignore[assignment]
    sub = seams.events.subscribe()
    stage.pool_level(3)
    stage.pool_level(2)
    assert asked == [("B1", 3)] and seams.alarms.active("pool-low")
    stage.pool_level(10)
    assert not seams.alarms.active("pool-low") and seams.tally.pool_available == 10
    assert PoolLevel(10) in drain(sub)


async def test_nothing_is_fed_without_a_batch_or_while_the_queue_must_be_redone() -> None:
    seams, printer = Seams(), FakePrinter()
    stage, _ = feeding(seams, feeder(seams, printer, FakeLedger(10)))
    seams.mirror.phase, seams.mirror.plc_state = "running", PackMLState.EXECUTE
    seams.tracker.sync(1, 0)
    assert not stage._may_feed()  # no batch
    seams.mirror.batch = object()  # type: ignore[assignment]
    assert stage._may_feed()
    seams.tracker.ask_resync("printer lost")
    assert not stage._may_feed()


async def test_at_line_end_the_queue_is_cancelled_and_the_write_aheads_scrapped() -> None:
    seams, printer = Seams(), FakePrinter()
    f = feeder(seams, printer, FakeLedger(10))
    f.activate("B1", CONTENT)
    seams.tracker.sync(1, 0)
    await f.top_up()
    stage, sent = feeding(seams, f)
    await stage.line_ended(PackMLState.STOPPED)
    assert printer.cleared == 1 and len(seams.packs) == 0
    reason, serials = sent[0]
    assert reason is RejectReason.CANCELLED and serials.split(",")[:3] == [
        "S0000",
        "S0001",
        "S0002",
    ]
    assert seams.tracker.needs_resync


async def test_a_verdict_waiting_for_its_print_gets_a_printer_poll_at_once() -> None:
    seams, printer = Seams(), FakePrinter()
    polled = asyncio.Event()
    stage = PrintWatch(
        printer, seams.tracker, seams.health, seams.alarms,  # type: ignore[arg-type]
        poll_s=0.0, polled=polled.set, feed=asyncio.Event(), mirror=seams.mirror,
        run_poll_s=3600.0, idle_poll_s=3600.0,
    )  # fmt: skip
    seams.mirror.plc_state = PackMLState.EXECUTE
    task = asyncio.create_task(stage.run())
    await polled.wait()  # the first poll; the next timed one is an hour away
    for _ in range(3):
        polled.clear()
        stage.wanted.set()  # what the inspection does for a GOOD pack not yet confirmed
        await polled.wait()
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)


async def test_a_standing_line_polls_the_printer_at_the_idle_period() -> None:
    seams, printer = Seams(), FakePrinter()
    polls: list[int] = []
    stage = PrintWatch(
        printer, seams.tracker, seams.health, seams.alarms,  # type: ignore[arg-type]
        poll_s=0.0, polled=lambda: polls.append(1), feed=asyncio.Event(), mirror=seams.mirror,
        run_poll_s=0.0, idle_poll_s=3600.0,
    )  # fmt: skip
    seams.mirror.plc_state = PackMLState.HELD
    task = asyncio.create_task(stage.run())
    for _ in range(20):  # the loop turns; a moving line would be polled on each
        await asyncio.sleep(0)
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    assert polls == [1]


async def test_the_feeder_says_when_it_loaded_jobs_so_the_watches_poll_fast() -> None:
    seams, printer = Seams(), FakePrinter()
    loaded: list[int] = []
    f = feeder(seams, printer, FakeLedger(10), on_loaded=lambda: loaded.append(len(printer.jobs)))
    f.activate("B1", CONTENT)
    seams.tracker.sync(1, 0)
    assert await f.top_up() and loaded == [3]  # once per top-up that loaded something
    assert await f.top_up() and loaded == [3]  # the queue was full: nothing loaded, no call
    await f.settled()


async def test_jobs_loaded_on_a_standing_line_end_the_printer_watch_slow_pause() -> None:
    seams, printer = Seams(), FakePrinter()
    polled = asyncio.Event()
    stage = PrintWatch(
        printer, seams.tracker, seams.health, seams.alarms,  # type: ignore[arg-type]
        poll_s=0.0, polled=polled.set, feed=asyncio.Event(), mirror=seams.mirror,
        run_poll_s=3600.0, idle_poll_s=3600.0,
    )  # fmt: skip
    seams.mirror.plc_state = PackMLState.IDLE
    task = asyncio.create_task(stage.run())
    await polled.wait()  # the first poll; the line stands, nothing is queued
    polled.clear()
    stage.wake()  # what the feeder's loading jobs does (through the runtime)
    await polled.wait()
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
