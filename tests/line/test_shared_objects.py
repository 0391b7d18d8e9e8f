"""The small objects the stages share: device watch, line mirror, print-ahead resync ownership,
and the status document read from them."""

from __future__ import annotations

import asyncio

from drivers.interfaces import DeviceError
from linectl.config import LineSection
from linectl.control_cmd import format_status
from linectl.line.events import DeviceBack, DeviceLost
from linectl.line.packs import PackRecord
from linectl.line.status import StatusSources, line_status
from standards.packml import PackMLState
from tests.line.fakes import FakePlc, FakePrinter, Seams, drain
from tests.line.test_inspection import inspection
from tests.line.test_printing import FakeLedger, feeder


def test_a_lost_device_is_published_once_and_its_return_too() -> None:
    seams = Seams()
    sub = seams.events.subscribe()
    seams.health.lost("camera", ConnectionError("reset"))
    seams.health.lost("camera", ConnectionError("refused"))
    seams.health.back("camera")
    seams.health.back("camera")
    assert drain(sub) == [DeviceLost("camera", "camera", "reset"), DeviceBack("camera", "camera")]
    assert seams.alarms.active("device-lost:camera")  # only an operator's Unhold clears it
    assert seams.health.back_by_name("camera") and seams.health.not_answering() == []


async def test_waiters_on_the_mirror_wake_when_it_changes() -> None:
    seams = Seams()
    waiting = asyncio.create_task(seams.mirror.wait_state(lambda s: s is PackMLState.EXECUTE))
    await asyncio.sleep(0)
    seams.mirror.plc_state = PackMLState.EXECUTE
    seams.mirror.changed()
    assert await waiting is PackMLState.EXECUTE


def test_the_print_ahead_tracker_alone_decides_when_the_queue_must_be_redone() -> None:
    seams = Seams()
    assert seams.tracker.needs_resync  # never synchronised
    seams.tracker.sync(1, 0)
    assert not seams.tracker.needs_resync
    seams.tracker.ask_resync("printer lost")
    assert seams.tracker.needs_resync and seams.tracker.synced  # the prediction still holds
    seams.tracker.sync(5, 0)
    assert not seams.tracker.needs_resync


def test_the_status_document_is_read_from_the_shared_objects() -> None:
    seams = Seams()
    f = feeder(seams, FakePrinter(), FakeLedger(0))
    seams.packs.add(PackRecord(seq=1, serial="S1", data="D"))
    seams.tally.counters["verdicts_good"] = 3
    seams.tally.pool_available = 40
    seams.mirror.phase, seams.mirror.plc_state = "running", PackMLState.EXECUTE
    seams.alarms.raise_("pool-low", "40 left", holds=False)
    line = LineSection(
        id="L1",
        read_point="urn:epc:id:sgln:0950600.01343.1",
        biz_location="urn:epc:id:sgln:0950600.01343.0",
        company_prefix_length=7,
    )
    sources = StatusSources(
        line,
        seams.mirror,
        seams.tally,
        seams.packs,
        seams.tracker,
        f,
        inspection(seams, FakePlc()),
        seams.alarms,
        seams.health,
        50,
        ["linectl x: boom"],
        None,
        lambda: None,
    )
    status = line_status(sources)
    assert status["state"] == {"name": "EXECUTE", "number": int(PackMLState.EXECUTE)}
    assert status["counters"]["verdicts_good"] == 3 and status["counters"]["in_flight"] == 1
    assert status["pool"] == {"available": 40, "written_ahead": 0, "low_water": 50, "low": True}
    assert status["upstream"] == {"backlog": None} and status["packing"] is None
    assert set(status["devices"]) == {"plc", "printer", "camera"}
    assert status["failures"] == ["linectl x: boom"]
    # the PLC stops answering: its last state may be long gone, and status says so
    seams.health.lost("plc", DeviceError("plc: not connected (map version 2); next attempt in 9 s"))
    state = line_status(sources)["state"]
    assert state["name"] is None and state["number"] is None
    assert state["unknown"] == (
        "PLC unreachable, state unknown (last reported EXECUTE): "
        "plc: not connected (map version 2); next attempt in 9 s"
    )
    assert format_status({"state": state}).startswith("state: PLC unreachable, state unknown")
