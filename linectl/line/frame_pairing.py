"""Frames without a pack seq (OpenCV sources) paired with packs by the PLC's camera triggers.

A camera that knows nothing of packs stamps each frame with its capture time; the PLC reports the
last pack at the camera (``Stations.Camera.LastSeq``). The stage reads that seq every ``poll_s``
while packs may move, so each trigger is known to lie in an interval [lo, hi] (lo: the start of
the read that still showed the previous seq; hi: the end of the read that showed it). The camera
(``drivers.interfaces.SeqlessFrames``) declares how its frame stamp relates to the trigger:
``frame_delay_ms = (dmin, dmax)``, the stamp minus the moment the PLC's seq changed (dmin may be
negative: a camera fired by the photo-eye itself may expose before the PLC's scan sees it), and
``frame_arrival_ms``, how long after its stamp a frame reaches linectl at the latest.

The rules (:class:`TriggerPairing`, pure logic):

1. A frame stamped *t* is looked at once every trigger that can precede it is known (a read of
   the seq begun after *t* - dmin). The triggers it can belong to are those whose [lo, hi]
   meets [*t* - dmax, *t* - dmin].
2. None: an extra frame, dropped and counted; no pack is touched. Exactly one, with no frame
   yet: the frame is that pack's. Two or more: nobody can tell, the frame is dropped and each of
   those packs is **uncertain**. A second frame for a pack that has one: the pack is uncertain.
3. A trigger is settled when no frame can still land on it: the clock is past hi + dmax +
   arrival, or a frame stamped after hi + dmax came in. Its one frame goes to inspection with the
   pack's seq; a pack with no frame (a lost frame) or an uncertain one is rejected ``no-read``
   with the reason in its detail. A frame that comes in after the trigger it belongs to was
   settled is dropped and counted as late (raise ``frame_arrival_ms`` if that happens).

A lost or extra frame thus never shifts the pairing of the packs after it. The deadline of a
paired frame counts from lo, the earliest the pack can have reached the camera; holding a frame
until its trigger is settled adds up to dmax + arrival + ``poll_s`` to its verdict latency.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import time
from collections import deque
from dataclasses import dataclass

from drivers.interfaces import Camera, DeviceError, Frame, Plc, SeqlessFrames
from linectl.line.inspection import Inspection
from linectl.line.packs import PackTable
from linectl.line.plc_side import read_camera_seq
from linectl.line.printing import may_move
from linectl.line.reasons import RejectReason
from linectl.line.state import LineMirror
from linectl.line.verify import Check

log = logging.getLogger("linectl.runtime")


@dataclass
class Trigger:
    """One pack's camera trigger: it happened within [lo_ns, hi_ns]."""

    seq: int
    lo_ns: int
    hi_ns: int
    frame: Frame | None = None
    uncertain: str = ""  # why the pack cannot be paired with certainty


@dataclass
class Settled:
    """What :meth:`TriggerPairing.settle` decided: frames by pack seq, and rejected packs."""

    paired: list[tuple[Trigger, Frame]]
    rejected: list[tuple[Trigger, str]]


MAX_HELD = 64
"""Frames kept waiting for their trigger; over that the oldest is dropped (counted as extra): a
live source keeps sending while the line stands, and its trigger, if it had one, gets no frame
and its pack is rejected."""


class TriggerPairing:
    """Pairs stamped frames with triggers (see the module docstring); no I/O, no clock."""

    def __init__(self, delay_ms: tuple[float, float], arrival_ms: float = 20.0) -> None:
        dmin, dmax = delay_ms
        if dmax < dmin:
            raise ValueError(f"frame delay window ({dmin}, {dmax}) ms: max below min")
        if arrival_ms < 0:
            raise ValueError(f"frame arrival {arrival_ms} ms: below 0")
        self.dmin_ns, self.dmax_ns = int(dmin * 1e6), int(dmax * 1e6)
        self.arrival_ns = int(arrival_ms * 1e6)
        self.closed_ns = 0  # the latest stamp a frame for an already settled trigger can carry
        self.late = 0  # frames that came in after their trigger was settled
        self.triggers: deque[Trigger] = deque()
        self.held: deque[Frame] = deque()
        self.last_seq: int | None = None
        self.known_ns = 0  # every trigger before this moment is in self.triggers
        self.extra = 0  # frames that belonged to no trigger
        self.ambiguous = 0  # frames that could belong to more than one
        self.placed_ns = 0  # the stamp of the latest frame placed

    def observe(self, seq: int, start_ns: int, end_ns: int, before_ns: int) -> None:
        """A read of the PLC's camera seq (begun ``start_ns``, done ``end_ns``) showed ``seq``;
        ``before_ns``: the start of the read before it."""
        if self.last_seq is None or seq < self.last_seq:
            self.last_seq = seq  # what stood at the camera before is not ours (or the PLC
            # counts again from lower down: restarted or wrapped)
        for new in range(self.last_seq + 1, seq + 1):
            self.triggers.append(Trigger(new, before_ns, end_ns))
        self.last_seq = seq
        self.known_ns = max(self.known_ns, start_ns)

    def frame(self, frame: Frame) -> None:
        """A frame came in (its ``seq`` is the camera's own count and is ignored)."""
        if len(self.held) >= MAX_HELD:
            self.held.popleft()
            self.extra += 1
        self.held.append(frame)

    def settle(self, now_ns: int) -> Settled:
        """Place every frame that can be placed; hand over every trigger no frame can reach."""
        while self.held and self.held[0].timestamp_ns - self.dmin_ns < self.known_ns:
            self._place(self.held.popleft())
        out = Settled([], [])
        while self.triggers and self._closed(self.triggers[0], now_ns):
            trigger = self.triggers.popleft()
            self.closed_ns = max(self.closed_ns, trigger.hi_ns + self.dmax_ns)
            if trigger.uncertain:
                out.rejected.append((trigger, f"frame not paired: {trigger.uncertain}"))
            elif trigger.frame is None:
                out.rejected.append((trigger, "no frame: the camera sent none for this trigger"))
            else:
                out.paired.append((trigger, trigger.frame))
        return out

    def _closed(self, trigger: Trigger, now_ns: int) -> bool:
        reach_ns = trigger.hi_ns + self.dmax_ns  # the latest stamp a frame for it can carry
        if self.held and self.held[0].timestamp_ns <= reach_ns:
            return False  # a frame that may be its is not placed yet
        return now_ns > reach_ns + self.arrival_ns or self.placed_ns > reach_ns

    def _place(self, frame: Frame) -> None:
        early, late = frame.timestamp_ns - self.dmax_ns, frame.timestamp_ns - self.dmin_ns
        self.placed_ns = max(self.placed_ns, frame.timestamp_ns)
        fits = [t for t in self.triggers if t.lo_ns <= late and t.hi_ns >= early]
        if not fits and frame.timestamp_ns <= self.closed_ns:
            self.late += 1
            log.warning("camera frame %d came in after its trigger was settled: dropped (late)",
                        frame.seq)  # fmt: skip
        elif not fits:
            self.extra += 1
            log.info("camera frame %d stamped %d belongs to no trigger: dropped", frame.seq,
                     frame.timestamp_ns)  # fmt: skip
        elif len(fits) > 1:
            self.ambiguous += 1
            seqs = ", ".join(str(t.seq) for t in fits)
            for trigger in fits:
                trigger.uncertain = f"a frame could be any of packs {seqs}"
        elif fits[0].frame is not None:
            fits[0].uncertain = "two frames for one trigger"
        else:
            fits[0].frame = frame


class FramePairing:
    """Stage: follows the PLC's camera seq, pairs the camera's frames with it, hands them on."""

    def __init__(
        self,
        plc: Plc,
        inspection: Inspection,
        packs: PackTable,
        mirror: LineMirror,
        *,
        delay_ms: tuple[float, float],
        arrival_ms: float = 20.0,
        poll_s: float = 0.005,
    ) -> None:
        self.plc = plc
        self.inspection = inspection
        self.packs = packs
        self.mirror = mirror
        self.poll_s = poll_s
        self.pairing = TriggerPairing(delay_ms, arrival_ms)
        self._before_ns = 0

    def take(self, frame: Frame) -> None:
        """A frame from the camera (Inspection's intake hands it here instead of verifying)."""
        self.pairing.frame(frame)
        self._hand_on()

    async def run(self) -> None:
        """Read the camera seq every ``poll_s`` while packs may move; settle what can be."""
        while True:
            await self.mirror.wait_for(lambda: may_move(self.mirror.plc_state))
            start_ns = time.time_ns()
            try:
                seq = await read_camera_seq(self.plc)
            except DeviceError:
                pass  # the PLC watch reports a lost PLC; the triggers wait
            else:
                self.pairing.observe(seq, start_ns, time.time_ns(), self._before_ns or start_ns)
                self._before_ns = start_ns
            self._hand_on()
            await asyncio.sleep(self.poll_s)

    def _hand_on(self) -> None:
        settled = self.pairing.settle(time.time_ns())
        for trigger, frame in settled.paired:
            self.inspection.submit(
                dataclasses.replace(frame, seq=trigger.seq, timestamp_ns=trigger.lo_ns)
            )
        for trigger, why in settled.rejected:
            log.info("pack %d: %s", trigger.seq, why)
            record = self.packs.get(trigger.seq)
            if record is not None:
                record.frame_ns = trigger.lo_ns
            now_ns = time.time_ns()
            check = Check.reject(RejectReason.NO_READ, why)
            self.inspection.hand_over(
                trigger.seq,
                self.inspection.conclude(
                    trigger.seq, record, check, trigger.lo_ns, (now_ns, now_ns)
                ),
            )


def pair_frames(
    camera: Camera | None, plc: Plc, inspection: Inspection, packs: PackTable, mirror: LineMirror
) -> FramePairing | None:
    """The pairing stage for a camera whose frames carry no pack seq (its frames are routed
    through it from now on); None for a camera that tags each frame with its pack's seq."""
    if not isinstance(camera, SeqlessFrames):
        return None
    stage = FramePairing(
        plc, inspection, packs, mirror,
        delay_ms=camera.frame_delay_ms, arrival_ms=camera.frame_arrival_ms,
    )  # fmt: skip
    inspection.route = stage.take
    return stage
