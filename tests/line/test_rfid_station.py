"""The RFID reader station against fakes of its seams (tag reader, PLC, ledger), and against the
LLRP reader simulator over a real socket: each pack's tag judged, joined with its printed code."""

from __future__ import annotations

import asyncio
import time
from dataclasses import replace

import pytest

from drivers.interfaces import DeviceUnavailable, LinkState, TagRead, TagReadResult, Verdict
from drivers.llrp.client import LlrpReader
from linectl.ledger import WorkOrder, WorkOrderStatus
from linectl.line.health import DeviceWatch
from linectl.line.inspection import Inspection
from linectl.line.reasons import RejectReason
from linectl.line.rfid_station import RfidStation
from linectl.line.tag_checks import TagCheck, TagChecks, judge
from linectl.line.verify import Check
from simulators.rfid_reader import RfidReaderSimulator, SimTag, TagFault, tid_for
from standards.epc.binary import sgtin_epc
from tests.line.fakes import FakePlc, Seams
from tests.line.test_inspection import GOOD, FakeVerifier, inspection, pack

GTIN = "09506000134352"
CPL = 7
R = RejectReason


def epc(seq: int) -> str:
    """The EPC (hex) of pack ``seq``'s unit: serial S<seq> (SGTIN-198: it is alphanumeric)."""
    return sgtin_epc(GTIN, f"S{seq}", CPL).hex


def tag(seq: int, rssi: int | None = -50, tid: str | None = "E2801160000000000000000A") -> TagRead:
    return TagRead(epc(seq), tid, rssi, 1)


# --- judge: one read against the unit's EPC -----------------------------------------------------


def test_one_strong_tag_with_the_units_epc_is_good() -> None:
    check = judge([tag(1)], epc(1), -70)
    assert check.good and check.tag is not None
    assert check.tag.epc == epc(1) and check.tag.tid == "E2801160000000000000000A"
    assert check.tag.epc_uri == "urn:epc:id:sgtin:9506000.013435.S1"


def test_no_tag_is_an_rfid_no_read() -> None:
    assert judge([], epc(1), -70).reason is R.RFID_NO_READ


@pytest.mark.parametrize("rssi", [-71, -82, None])
def test_the_units_tag_below_the_limit_or_without_rssi_is_weak(rssi: int | None) -> None:
    check = judge([tag(1, rssi)], epc(1), -70)
    assert check.reason is R.RFID_WEAK and "-70" in check.detail


def test_the_limit_itself_is_strong_enough() -> None:
    assert judge([tag(1, -70)], epc(1), -70).good


def test_another_epc_is_a_mismatch_naming_both() -> None:
    check = judge([tag(2)], epc(1), -70)
    assert check.reason is R.RFID_MISMATCH
    assert epc(2) in check.detail and epc(1) in check.detail
    assert check.tag is not None and check.tag.epc == epc(2)


def test_two_tags_with_the_units_epc_are_a_duplicate() -> None:
    copy = replace(tag(1), tid="E2801160000000000000000B")
    check = judge([tag(1), copy], epc(1), -70)
    assert check.reason is R.RFID_DUPLICATE and "2 tags" in check.detail


def test_another_tag_as_strong_as_the_units_is_a_mismatch_but_a_faint_one_is_ignored() -> None:
    assert judge([tag(1), tag(2, -60)], epc(1), -70).reason is R.RFID_MISMATCH
    assert judge([tag(1), tag(2, -85)], epc(1), -70).good  # a neighbour at the field's edge


# --- TagChecks: from the station to the inspection ----------------------------------------------


async def test_a_tag_verdict_put_before_or_while_waiting_is_the_one_taken() -> None:
    checks = TagChecks()
    checks.put(1, TagCheck(None))
    assert (await checks.wait(1, time.time_ns())).good
    later = time.time_ns() + 1_000_000_000
    waiting = checks.wait(2, later)

    async def put_soon() -> None:
        checks.put(2, TagCheck(R.RFID_WEAK, "weak"))

    _, result = await asyncio.gather(put_soon(), waiting)
    assert result.reason is R.RFID_WEAK and checks.missed == 0


async def test_no_tag_verdict_by_the_deadline_is_an_rfid_no_read() -> None:
    checks = TagChecks()
    check = await checks.wait(7, time.time_ns() + 20_000_000)
    assert check.reason is R.RFID_NO_READ and "before the pack's verdict was due" in check.detail
    assert checks.missed == 1


async def test_a_verdict_judged_for_another_unit_is_never_taken_for_a_pack_reusing_its_seq() -> (
    None
):
    checks = TagChecks()  # pack 5 (unit OLD) was concluded before its good tag verdict came in
    checks.put(5, TagCheck(None, serial="OLD"))
    stale = await checks.wait(5, time.time_ns() + 20_000_000, "NEW")  # the PLC restarted: seq 5
    assert stale.reason is R.RFID_NO_READ and stale.serial == "NEW"
    waiting = asyncio.create_task(checks.wait(6, time.time_ns() + 5_000_000_000, "NEW6"))
    await asyncio.sleep(0)  # the inspection waits for pack 6's verdict, then a stale one comes
    checks.put(6, TagCheck(None, serial="OLD6"))
    crossed = await waiting
    assert crossed.reason is R.RFID_NO_READ and "judged for unit OLD6, not NEW6" in crossed.detail
    record = replace(pack(7), serial="NEW7")
    checks.put(7, TagCheck(None, serial="OLD7"))
    joined = await checks.join(7, record, GOOD, time.time_ns() + 20_000_000)
    assert joined.reason is R.RFID_NO_READ and record.tag is None


def test_a_foreign_tag_whose_epc_the_ledger_cannot_store_is_judged_without_keeping_it() -> None:
    for odd in ("", "AB", "3034AB"):  # LLRP allows an EPC of any bit length
        check = judge([TagRead(odd, None, -40, 1)], epc(1), -70)
        assert check.reason is R.RFID_MISMATCH and check.tag is None, odd
    kept = judge([TagRead(epc(1), "E2801160AB", -40, 1)], epc(1), -70)
    assert kept.good and kept.tag is not None and kept.tag.tid is None  # a TID of odd length


def test_only_the_newest_verdicts_are_kept() -> None:
    checks = TagChecks(keep=3)
    for seq in range(1, 6):
        checks.put(seq, TagCheck(None))
    assert sorted(checks._ready) == [3, 4, 5]


# --- the station: paired reads, verdicts through the inspection ---------------------------------


class FakeTagReader:
    """A tag reader (drivers.interfaces.TagReader) answering from a script."""

    read_timeout = 0.5

    def __init__(self, *answers: TagReadResult | Exception) -> None:
        self.link_state = LinkState.CONNECTED
        self.answers = list(answers)
        self.triggered: list[int | None] = []

    async def connect(self) -> None: ...
    async def close(self) -> None: ...

    async def read_tags(self, seq: int | None = None) -> TagReadResult:
        self.triggered.append(seq)
        answer = self.answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return answer


class FakeTags:
    """The ledger's ``tags`` seam: which commissioned unit holds an EPC."""

    def __init__(self, held: dict[str, str] | None = None) -> None:
        self.held = held or {}
        self.asked: list[str] = []

    def holder(self, epc: str) -> str | None:
        self.asked.append(epc)
        return self.held.get(epc)


class FakeLedger:
    def __init__(self, held: dict[str, str] | None = None) -> None:
        self.tags = FakeTags(held)


def order() -> WorkOrder:
    return WorkOrder("B1", GTIN, "L1", "281130", 100, "DE", {}, WorkOrderStatus.STARTED, "t", "t",
                     None)  # fmt: skip


def rig(
    reader: object, *seqs: int, held: dict[str, str] | None = None, deadline_ms: float = 300.0
) -> tuple[RfidStation, Inspection, FakePlc, Seams]:
    seams, plc = Seams(), FakePlc()
    names = {"plc": "plc", "printer": "printer", "camera": "cam", "rfid": "gate-antenna"}
    seams.health = DeviceWatch(names, {}, seams.alarms, seams.events)
    seams.mirror.batch = order()
    seams.mirror.verifier = FakeVerifier(GOOD)  # type: ignore[assignment]
    for seq in seqs:
        seams.packs.add(pack(seq))
    stage = inspection(seams, plc, deadline_ms=deadline_ms)
    station = RfidStation(
        reader, plc, TagChecks(), seams.packs, seams.mirror, seams.health,  # type: ignore[arg-type]
        FakeLedger(held), seams.tally, company_prefix_length=CPL, min_rssi_dbm=-70,  # type: ignore[arg-type]
    )  # fmt: skip
    stage.tags = station.checks
    station.seen = 0
    return station, stage, plc, seams


async def pass_camera(
    station: RfidStation, stage: Inspection, plc: FakePlc, seq: int, check: Check = GOOD
) -> None:
    """Pack ``seq`` reaches the camera: the station reads its tag, the camera's check concludes."""
    plc.snap = replace(plc.snap, last_seq_camera=seq)
    now = time.time_ns()
    nxt, since = await station.station(seq, now)
    while nxt:
        nxt, since = await station.station(nxt, since)
    await stage.conclude(seq, station.packs.get(seq), check, now, (now, now))


async def test_a_good_code_and_a_good_tag_are_good_and_the_tag_is_kept_for_the_ledger() -> None:
    reader = FakeTagReader(TagReadResult((tag(1),), 1))
    station, stage, plc, seams = rig(reader, 1)
    await pass_camera(station, stage, plc, 1)
    assert reader.triggered == [1]
    assert plc.verdicts == [(1, Verdict.GOOD, 0)]
    record = seams.packs.get(1)
    assert record is not None and record.tag is not None and record.tag.epc == epc(1)
    assert seams.tally.counters["rfid_good"] == 1
    assert station.status()["good"] == 1 and station.status()["last_rssi_dbm"] == -50


@pytest.mark.parametrize(
    ("tags", "reason"),
    [
        ((), R.RFID_NO_READ),
        ((tag(1, -82),), R.RFID_WEAK),
        ((tag(2),), R.RFID_MISMATCH),
        ((tag(1), replace(tag(1), tid="E280116000000000000000FF")), R.RFID_DUPLICATE),
    ],
)
async def test_a_good_code_with_a_bad_tag_is_rejected_with_the_tags_reason(
    tags: tuple[TagRead, ...], reason: RejectReason
) -> None:
    station, stage, plc, seams = rig(FakeTagReader(TagReadResult(tags, 1)), 1)
    await pass_camera(station, stage, plc, 1)
    assert plc.verdicts == [(1, Verdict.REJECT, reason.plc_code)]
    record = seams.packs.get(1)
    assert record is not None and record.reason is reason
    assert station.status()["rejects"] == {reason.value: 1}


async def test_a_tag_whose_epc_a_commissioned_unit_holds_is_a_duplicate() -> None:
    station, stage, plc, _ = rig(FakeTagReader(TagReadResult((tag(9),), 1)), 1, held={epc(9): "S9"})
    await pass_camera(station, stage, plc, 1)
    assert plc.verdicts == [(1, Verdict.REJECT, R.RFID_DUPLICATE.plc_code)]


async def test_an_epc_judged_good_earlier_in_the_run_is_a_duplicate_on_another_pack() -> None:
    reader = FakeTagReader(TagReadResult((tag(1),), 1), TagReadResult((tag(1),), 2))
    station, stage, plc, _ = rig(reader, 1, 2)
    await pass_camera(station, stage, plc, 1)
    await pass_camera(station, stage, plc, 2)
    assert plc.verdicts == [(1, Verdict.GOOD, 0), (2, Verdict.REJECT, R.RFID_DUPLICATE.plc_code)]
    assert station.ledger.tags.asked == []  # type: ignore[attr-defined]  (known this run)


async def test_an_epc_judged_good_on_a_pack_that_was_rejected_is_no_duplicate_later() -> None:
    reader = FakeTagReader(TagReadResult((tag(1),), 1), TagReadResult((tag(1),), 2))
    station, stage, plc, _ = rig(reader, 1, 2)
    await pass_camera(station, stage, plc, 1, Check.reject(R.NO_PRINT, "nothing printed"))
    await pass_camera(station, stage, plc, 2)  # pack 1 was scrapped: its EPC is nobody's
    assert plc.verdicts[1] == (2, Verdict.REJECT, R.RFID_MISMATCH.plc_code)


async def test_a_bad_printed_code_keeps_its_own_reason_whatever_the_tag() -> None:
    station, stage, plc, _ = rig(FakeTagReader(TagReadResult((), 1)), 1)
    await pass_camera(station, stage, plc, 1, Check.reject(R.NO_PRINT, "nothing printed"))
    assert plc.verdicts == [(1, Verdict.REJECT, R.NO_PRINT.plc_code)]


async def test_a_read_the_camera_seq_moved_under_leaves_the_pack_without_a_tag_read() -> None:
    reader = FakeTagReader(TagReadResult((tag(1),), 1), TagReadResult((tag(2),), 2))
    station, stage, plc, _ = rig(reader, 1, 2)
    original = reader.read_tags

    async def moving(seq: int | None = None) -> TagReadResult:
        result = await original(seq)
        if seq == 1:
            plc.snap = replace(plc.snap, last_seq_camera=2)  # pack 2 arrived during the read
        return result

    reader.read_tags = moving  # type: ignore[method-assign]
    plc.snap = replace(plc.snap, last_seq_camera=1)
    now = time.time_ns()
    nxt, since = await station.station(1, now)
    assert nxt == 2 and station.unpaired == 1
    await station.station(nxt, since)
    for seq in (1, 2):
        await stage.conclude(seq, station.packs.get(seq), GOOD, now, (now, now))
    assert plc.verdicts == [(1, Verdict.REJECT, R.RFID_NO_READ.plc_code), (2, Verdict.GOOD, 0)]


async def test_no_tag_verdict_in_time_rejects_a_good_code_rfid_no_read() -> None:
    station, stage, plc, seams = rig(FakeTagReader(), 1, deadline_ms=30)
    now = time.time_ns()
    await stage.conclude(1, seams.packs.get(1), GOOD, now, (now, now))  # the station never read
    assert plc.verdicts == [(1, Verdict.REJECT, R.RFID_NO_READ.plc_code)]
    assert station.status()["late"] == 1


async def test_a_failed_read_rejects_the_pack_and_loses_the_reader() -> None:
    reader = FakeTagReader(DeviceUnavailable("no reply within 0.5 s"))
    station, stage, plc, seams = rig(reader, 1)
    await pass_camera(station, stage, plc, 1)
    assert plc.verdicts == [(1, Verdict.REJECT, R.RFID_NO_READ.plc_code)]
    assert seams.alarms.active("device-lost:gate-antenna") and not seams.health.connected("rfid")


# --- the station with the real LLRP driver against the reader simulator --------------------------


async def test_the_station_reads_each_packs_tag_from_the_llrp_simulator_with_its_faults() -> None:
    inlays = {n: sgtin_epc(GTIN, f"S{n + 1}", CPL).encode() for n in range(6)}  # trigger -> EPC

    def field(trigger: int) -> list[SimTag]:
        data = inlays[trigger]
        return [SimTag(data, tid_for(data), -48)]

    sim = RfidReaderSimulator(field, seed=1)
    port = await sim.start()
    sim.inject(None, TagFault.NO_READ, TagFault.WEAK, TagFault.WRONG_EPC, TagFault.DUPLICATE, None)
    reader = LlrpReader("127.0.0.1", port, inventory_ms=5, read_timeout=1.0)
    try:
        await reader.connect()
        station, stage, plc, seams = rig(reader, *range(1, 7))
        for seq in range(1, 7):
            await pass_camera(station, stage, plc, seq)
    finally:
        await reader.close()
        await sim.close()
    assert plc.verdicts == [
        (1, Verdict.GOOD, 0),
        (2, Verdict.REJECT, R.RFID_NO_READ.plc_code),
        (3, Verdict.REJECT, R.RFID_WEAK.plc_code),
        (4, Verdict.REJECT, R.RFID_MISMATCH.plc_code),
        (5, Verdict.REJECT, R.RFID_DUPLICATE.plc_code),
        (6, Verdict.GOOD, 0),
    ]
    good = seams.packs.get(6)
    assert good is not None and good.tag is not None
    assert good.tag.epc == epc(6) and good.tag.tid == tid_for(inlays[5]).hex().upper()
