"""The camera side of the pack pipeline: every frame decoded, verified and its verdict written.

Per frame (each on a free worker of a small, long-lived pool, or on a task of its own when
all are busy, so a slow frame never holds up the next pack and no task is made per frame):

1. Decode on the Decoder's thread pool (zxing-cpp releases the GIL).
2. Verify against what was sent for the frame's seq (:class:`linectl.line.verify.Verifier`);
   a serial this run does not know is looked up in the ledger (duplicate or wrong content).
3. A GOOD pack also needs its print confirmed by the printer's counter; the check asks for a
   printer poll (:attr:`Inspection.print_wanted`) and waits for the next polls, but never past
   the verdict deadline (a pack whose deadline is gone before it could ask is late). A pack
   whose label carries an RFID tag also needs the RFID printer's read-back of its EPC, awaited
   the same way: a void label, or no read-back by the deadline, is ``rfid-encode``.
4. If the verdict would reach the PLC after ``verdict_deadline_ms`` from the frame's trigger, it
   is sent as REJECT with reason ``late``, never as GOOD.
5. The verdict is written to the PLC keyed by seq; its latency (trigger to written) is kept.

On a line with an RFID reader station a pack whose code checks good also needs its tag's
verdict (:class:`linectl.line.tag_checks.TagChecks`), awaited until the verdict is due; none by
then is ``rfid-no-read``. N consecutive rejects raise a holding alarm (the runtime then holds the
line).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Coroutine
from typing import Any

from drivers.camera.decode import Decoder, DecodeResult, frame_array, warm_up_frame
from drivers.interfaces import (
    PACK_SEQ_MAX,
    Camera,
    DeviceError,
    DeviceUnavailable,
    Frame,
    Plc,
    Verdict,
)
from linectl.ledger import Ledger, LedgerError, SerialState, UnknownSerial
from linectl.line.alarms import Alarms
from linectl.line.events import EventStream, VerdictWritten
from linectl.line.health import DeviceWatch
from linectl.line.packs import LatencyWindow, PackRecord, PackTable
from linectl.line.printahead import PrintAhead
from linectl.line.reasons import RejectReason
from linectl.line.reject_frames import RejectFrames
from linectl.line.state import LineMirror, Tally
from linectl.line.supervisor import Supervisor
from linectl.line.tag_checks import TagChecks
from linectl.line.verify import Check, Expected, mark_present

log = logging.getLogger("linectl.runtime")

_NOT_PRINTED = frozenset(
    {SerialState.UNASSIGNED, SerialState.UNALLOCATED, SerialState.ALLOCATED, SerialState.SN_INVALID}
)
_CLOCK_SKEW_NS = 10_000_000_000  # a frame stamp further off than this is not trusted


class Inspection:
    """Stage: frames in, verdicts out (see the module docstring)."""

    def __init__(
        self,
        camera: Camera | None,
        plc: Plc,
        decoder: Decoder,
        ledger: Ledger,
        packs: PackTable,
        mirror: LineMirror,
        tally: Tally,
        alarms: Alarms,
        devices: DeviceWatch,
        tracker: PrintAhead,
        events: EventStream,
        supervisor: Supervisor,
        *,
        deadline_ms: float,
        reject_limit: int,
        workers: int = 4,
    ) -> None:
        self.camera = camera
        self.plc = plc
        self.decoder = decoder
        self.ledger = ledger
        self.packs = packs
        self.mirror = mirror
        self.tally = tally
        self.alarms = alarms
        self.devices = devices
        self.tracker = tracker
        self.events = events
        self.supervisor = supervisor
        self.deadline_ms = deadline_ms
        self.reject_limit = reject_limit
        self.latency = LatencyWindow()
        self.rejects = RejectFrames()  # frames of recent rejects, for the HMI
        self.verified_good: set[str] = set()  # serials judged GOOD in this run
        self.streak = 0  # consecutive rejects of serialised packs
        self.write_estimate_ms = 2.0  # how long a verdict write takes (moving average)
        self._printer_polled = asyncio.Event()
        self.print_wanted = asyncio.Event()  # set while a verdict waits for a print confirmation
        self.workers = workers
        self._frames: asyncio.Queue[Frame] = asyncio.Queue()
        self._free = 0  # workers waiting for a frame and not yet handed one
        self._pending = 0  # frames taken from the camera whose verdict is not done
        self._quiet = asyncio.Event()
        # where a frame from the camera goes: verified now, or (a camera whose frames carry no
        # pack seq) to linectl.line.frame_pairing first, which submits it with its pack's seq
        self.route: Callable[[Frame], None] = self.submit
        self.tags: TagChecks | None = None  # a line with an RFID reader station: its verdicts

    async def warm_up(self) -> None:
        """Decode and grade a code once and write one harmless verdict, before the first pack.

        The first pass through zxing-cpp, the grader, the decode threads and the PLC write path
        costs several times a normal one; without this the first pack of a run can be late.
        """
        frame = warm_up_frame()
        for _ in range(self.decoder.threads):
            await self.decoder.decode(frame)
        await asyncio.to_thread(mark_present, frame_array(frame))
        snapshot = self.mirror.snapshot
        gate_seq = snapshot.last_seq_gate if snapshot is not None else 0
        # pack 0 never exists, and a pack the gate has decided on is past caring
        await self.plc.write_verdict(gate_seq, Verdict.REJECT, 0)

    def printer_polled(self) -> None:
        """The printer's status was just read (print confirmations may have come in)."""
        self._printer_polled.set()
        self._printer_polled = asyncio.Event()

    async def run(self) -> None:
        """Take frames as they come; reconnect (per the camera's policy) when the link drops."""
        if self.camera is None:
            raise DeviceError("no camera: the line verifies with a reader (ReaderStation)")
        for n in range(self.workers):
            self.supervisor.spawn(self._work(), f"frame worker {n}")
        while True:
            try:
                async for frame in self.camera.frames():
                    self.devices.back("camera")
                    self.route(frame)
                return  # the camera was closed
            except DeviceError as exc:
                self.devices.lost("camera", exc)

    def submit(self, frame: Frame) -> None:
        """Hand ``frame`` to a free worker (reserved now), or to a task of its own."""
        self._pending += 1
        if self._free > 0:
            self._free -= 1
            self._frames.put_nowait(frame)
        else:
            self.supervisor.spawn(self._one(frame), f"frame {frame.seq}")

    def hand_over(self, seq: int, verdict: Coroutine[Any, Any, None]) -> None:
        """Run a verdict made elsewhere (a smart reader's) as a frame's: on a task of its own,
        counted until it is written, so :meth:`settle` waits for it at shutdown."""
        self._pending += 1
        self.supervisor.spawn(self._done(verdict), f"frame {seq}")

    async def _done(self, verdict: Coroutine[Any, Any, None]) -> None:
        try:
            await verdict
        finally:
            self._pending -= 1
            if self._pending == 0:
                self._quiet.set()
                self._quiet = asyncio.Event()

    async def _work(self) -> None:
        while True:
            self._free += 1
            frame = await self._frames.get()
            await self._one(frame)

    async def _one(self, frame: Frame) -> None:
        try:
            await self.on_frame(frame)
        finally:
            self._pending -= 1
            if self._pending == 0:
                self._quiet.set()
                self._quiet = asyncio.Event()

    async def settle(self, timeout_s: float) -> None:
        """Wait (bounded) until every frame taken so far has its verdict."""
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(timeout_s):
                while self._pending:
                    await self._quiet.wait()

    async def on_frame(self, frame: Frame) -> None:
        """Verify one frame and write its verdict (steps 1-5 of the module docstring)."""
        if frame.seq > PACK_SEQ_MAX:  # no pack has it: the PLC counts in 32 bits
            dropped = self.tally.counters["frames_dropped"] = (
                self.tally.counters["frames_dropped"] + 1
            )
            if dropped % 100 == 1:  # a flood of them logs a line per hundred
                log.warning(
                    "camera frame for seq %d dropped: beyond the PLC's pack seqs (%d so far)",
                    frame.seq,
                    dropped,
                )
            return
        now_ns = time.time_ns()
        trigger_ns = frame.timestamp_ns
        if not trigger_ns or abs(now_ns - trigger_ns) > _CLOCK_SKEW_NS:
            trigger_ns = now_ns
        record = self.packs.get(frame.seq)
        if record is not None:
            record.frame_ns = trigger_ns
        try:
            result = await self.decoder.decode(frame)
        except DeviceUnavailable:
            return  # shutting down: without a verdict the PLC rejects the pack
        decoded_ns = time.time_ns()
        mark = None
        if not result.ok:
            mark = await asyncio.to_thread(mark_present, frame_array(frame))
        check = self._verify(result, record, mark)
        await self.conclude(frame.seq, record, check, trigger_ns, (now_ns, decoded_ns), frame)

    async def conclude(
        self,
        seq: int,
        record: PackRecord | None,
        check: Check,
        trigger_ns: int,
        stamps: tuple[int, int],
        frame: Frame | None = None,
    ) -> None:
        """Steps 2-5 for pack ``seq`` once its code is read and checked: duplicate in the ledger,
        print confirmation, the deadline, the verdict written. ``stamps``: when the frame (or the
        read) came in and when it was decoded, for the log of a late verdict."""
        deadline_ns = trigger_ns + int(self.deadline_ms * 1e6)
        if check.ask_ledger is not None and await asyncio.to_thread(
            self._ledger_has_printed, check.ask_ledger
        ):
            check = Check.reject(
                RejectReason.DUPLICATE, f"serial {check.ask_ledger} is already in the ledger"
            )
        until_ns = deadline_ns - int(self.write_estimate_ms * 1e6)
        if check.good and record is not None and not record.printed and time.time_ns() < until_ns:
            # (with no time left to ask the printer, the deadline check below rejects it: late)
            await self._await_print(record, until_ns)
            if not record.printed:
                check = Check.reject(
                    RejectReason.NO_PRINT_CONFIRMATION,
                    "the printer did not confirm this print",
                    grade=check.grade,
                )
        check = await self._check_encoding(check, record, until_ns)  # RFID printer: tag encoded
        if self.tags is not None:  # the pack's RFID tag must check good too (rfid_station)
            check = await self.tags.join(seq, record, check, until_ns)
        verdict = Verdict.GOOD if check.good else Verdict.REJECT
        reason = check.reason
        if verdict is Verdict.GOOD and (
            time.time_ns() + int(self.write_estimate_ms * 1e6) > deadline_ns
        ):
            verdict, reason = Verdict.REJECT, RejectReason.LATE
            self.tally.counters["verdicts_late"] += 1
            ms = [(t - trigger_ns) / 1e6 for t in (*stamps, time.time_ns())]
            log.warning(
                "pack %d: verdict late, sent as REJECT (ms after trigger: frame in %.1f, "
                "decoded %.1f, checked %.1f)",
                seq,
                *ms,
            )
        if record is not None:
            if record.resolved:
                ms = [(t - trigger_ns) / 1e6 for t in (*stamps, time.time_ns())]
                log.warning(
                    "pack %d: verdict ready after its gate report (ms after trigger: frame in "
                    "%.1f, decoded %.1f, checked %.1f)",
                    seq,
                    *ms,
                )
                return
            record.verdict, record.reason, record.grade = verdict, reason, check.grade
            record.detail = check.detail
            if verdict is Verdict.GOOD:
                self.verified_good.add(record.serial)
        if frame is not None:
            self.rejects.keep(frame, verdict, reason, check.detail)
        await self._write(seq, verdict, reason, trigger_ns, record)

    def _verify(self, result: DecodeResult, record: PackRecord | None, mark: bool | None) -> Check:
        verifier = self.mirror.verifier
        if verifier is None:
            return Check.reject(RejectReason.WRONG_CONTENT, "no batch active")
        expected = None if record is None else Expected(record.seq, record.serial, record.data)
        return verifier.check(result, expected, mark=mark)

    def _ledger_has_printed(self, serial: str) -> bool:
        """Whether the ledger holds ``serial`` (this GTIN) in a state a printed serial has."""
        batch = self.mirror.batch
        if batch is None:
            return False
        try:
            trace = self.ledger.trace(serial, gtin=batch.gtin)
        except (UnknownSerial, LedgerError):
            return False
        return trace.state not in _NOT_PRINTED

    async def _check_encoding(
        self, check: Check, record: PackRecord | None, until_ns: int
    ) -> Check:
        """A good pack whose label has an RFID tag: its EPC read back by the printer (awaited
        from printer polls until ``until_ns``), else ``rfid-encode`` (fail-safe when unknown;
        ``late`` when the deadline was gone before it could be awaited)."""
        if not check.good or record is None or record.epc is None or record.encoded:
            return check
        if record.encoded is None:
            if time.time_ns() >= until_ns:  # no time left to ask, as for a print: late
                self.tally.counters["verdicts_late"] += 1
                return Check.reject(RejectReason.LATE, "no time left for the RFID read-back")
            await self._await_print(record, until_ns, lambda: record.encoded is not None)
        if record.encoded:
            return check
        why = (
            "the RFID printer did not read back the tag's EPC (void label)"
            if record.encoded is False
            else "no RFID read-back from the printer by the verdict deadline"
        )
        return Check.reject(RejectReason.RFID_ENCODE, why, grade=check.grade)

    async def _await_print(
        self, record: PackRecord, until_ns: int, done: Callable[[], bool] | None = None
    ) -> None:
        """Wait for printer polls (at most until ``until_ns``) until ``record`` is confirmed
        (or ``done`` says what was awaited came in)."""
        done = done or (lambda: record.printed)
        with contextlib.suppress(TimeoutError):
            while not done():
                left = (until_ns - time.time_ns()) / 1e9
                if left <= 0:
                    return
                self.print_wanted.set()
                async with asyncio.timeout(left):
                    await self._printer_polled.wait()

    async def _write(
        self,
        seq: int,
        verdict: Verdict,
        reason: RejectReason | None,
        trigger_ns: int,
        record: PackRecord | None,
    ) -> None:
        counters = self.tally.counters
        code = 0 if reason is None else reason.plc_code
        start = time.perf_counter()
        try:
            await self.plc.write_verdict(seq, verdict, code)
        except DeviceError as exc:
            self.devices.lost("plc", exc)
            counters["verdicts_unsent"] += 1
            return
        took_ms = (time.perf_counter() - start) * 1000
        self.write_estimate_ms = min(20.0, 0.9 * self.write_estimate_ms + 0.1 * took_ms)
        latency_ms = (time.time_ns() - trigger_ns) / 1e6
        self.latency.add(latency_ms)
        self.events.publish(
            VerdictWritten(seq, verdict, None if reason is None else reason.value, latency_ms)
        )
        if record is not None:
            record.written = True
            if verdict is Verdict.GOOD:
                counters["verdicts_good"] += 1
                self.streak = 0
            else:
                counters["verdicts_reject"] += 1
                self.count_reject(record)
        self.mirror.changed()

    def count_reject(self, record: PackRecord) -> None:
        """One more reject in a row; at the configured limit the line is held."""
        self.streak += 1
        limit = self.reject_limit
        if self.streak >= limit:
            self.tracker.ask_resync(f"{self.streak} rejects in a row")
            self.alarms.raise_(
                "consecutive-rejects",
                f"{self.streak} rejects in a row (limit {limit}), last pack {record.seq}",
                holds=True,
            )
