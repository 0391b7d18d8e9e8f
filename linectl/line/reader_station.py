"""A smart reader (Cognex DMCC, Keyence SR) as the line's verification source, paired by trigger.

While packs may move the stage reads the PLC's ``Stations.Camera.LastSeq`` every ``poll_s``
(5 ms; one signal, or the whole snapshot from a PLC driver without signal access). For each new
seq it triggers the reader once and pairs the read with that seq under one rule, which makes the
pairing certain or rejects the pack:

* the PLC showed seq *s* at the camera before the trigger was sent, and a read of
  ``Stations.Camera.LastSeq`` begun after the reply came in still shows *s*. The seq only grows,
  so *s* stood at the camera for the whole read: the read is *s*'s.
* If the camera seq moved during the read, the read is not paired: *s* is rejected ``no-read``
  ("not paired") and the newer pack is triggered at once.
* Packs that passed the camera between two observations (the PLC moved on by more than one) are
  never read: each is rejected ``no-read`` ("not triggered").
* A no-read, a read that fails (timeout, lost connection, refused trigger) is ``no-read`` too;
  a failed read also marks the reader lost (the line holds), and the stage connects to it again
  every ``retry_s`` until it answers, so an operator can unhold.

A paired read is verified as a camera decode is (:meth:`linectl.line.verify.Verifier.check_read`,
with the reader's own ISO/IEC 15415 grade against the line minimum) and its verdict goes through
:meth:`linectl.line.inspection.Inspection.conclude`: ledger duplicate check, print confirmation,
deadline (``late``), the PLC write. The deadline counts from the start of the last read that
still showed the previous seq, the earliest moment the pack can have reached the camera.
"""

from __future__ import annotations

import asyncio
import logging
import time

from drivers.interfaces import CodeReader, DeviceError, Plc, ReadResult
from linectl.line.health import DeviceWatch
from linectl.line.inspection import Inspection
from linectl.line.packs import PackTable
from linectl.line.plc_side import read_camera_seq
from linectl.line.printing import may_move
from linectl.line.reasons import RejectReason
from linectl.line.state import LineMirror
from linectl.line.verify import Check, Expected

log = logging.getLogger("linectl.runtime")

ROLE = "reader"
"""The verification reader's role in device health (the camera's is ``camera``)."""


class ReaderStation:
    """Stage: trigger the reader for each pack the PLC reports at the camera; pair; verify."""

    def __init__(
        self,
        reader: CodeReader,
        plc: Plc,
        inspection: Inspection,
        packs: PackTable,
        mirror: LineMirror,
        devices: DeviceWatch,
        *,
        poll_s: float = 0.005,
        retry_s: float = 0.5,
    ) -> None:
        self.reader = reader
        self.plc = plc
        self.inspection = inspection
        self.packs = packs
        self.mirror = mirror
        self.devices = devices
        self.poll_s = poll_s
        self.retry_s = retry_s
        self._window = (0, 0)  # (start of the read before the last, start of the last), ns
        self.seen: int | None = None  # the last camera seq handled (read, or rejected unread)
        self.reads = 0
        self.reading: int | None = None  # the seq whose read is under way
        self.unpaired = 0  # reads the camera seq moved under
        self.untriggered = 0  # packs that passed the camera between two observations

    async def run(self) -> None:
        """Follow the PLC's camera seq for as long as the line runs."""
        while True:
            if not self.devices.connected(ROLE):
                await self._reconnect()  # a held line reads nothing: only this brings it back
                continue
            await self.mirror.wait_for(lambda: may_move(self.mirror.plc_state))
            try:
                now: int | None = await self._camera_seq_now()
            except DeviceError:
                now = None  # the PLC watch reports a lost PLC; nothing is paired meanwhile
            if now is None:
                pass
            elif self.seen is None:
                self.seen = now  # what stood there before this run is not ours
            elif now > self.seen:
                seq, since_ns = now, self._window[0]
                while seq:
                    seq, since_ns = await self.station(seq, since_ns)
            elif now < self.seen:  # the PLC counts again from lower down (restarted, wrapped)
                log.warning("the PLC's camera seq went back from %d to %d", self.seen, now)
                self.seen = now
            await asyncio.sleep(self.poll_s)

    async def _reconnect(self) -> None:
        """Try the lost reader again (every ``retry_s``); it is back once it answers."""
        try:
            await self.reader.connect()
        except (DeviceError, OSError) as exc:
            self.devices.lost(ROLE, exc)  # (already lost: only its error is updated)
            await asyncio.sleep(self.retry_s)
        else:
            self.devices.back(ROLE)

    async def station(self, seq: int, trigger_ns: int) -> tuple[int, int]:
        """Handle pack ``seq``, seen at the camera (reached it no earlier than ``trigger_ns``).

        Returns the next seq to handle at once (one that reached the camera during the read,
        with its earliest arrival) or (0, 0).
        """
        seen = self.seen or 0
        for missed in range(seen + 1, seq):
            self.untriggered += 1
            self._reject(missed, trigger_ns, "not read: it passed the camera between two polls")
        self.seen = seq
        sent_ns = time.time_ns()
        self.reading = seq
        try:
            read = await self.reader.read(seq)
        except DeviceError as exc:
            self.devices.lost(ROLE, exc)
            self._reject(seq, trigger_ns, f"the reader did not read: {exc}")
            return 0, 0
        finally:
            self.reading = None
        self.devices.back(ROLE)
        read_ns = time.time_ns()
        self.reads += 1
        try:
            now = await self._camera_seq_now()
        except DeviceError as exc:
            self._reject(seq, trigger_ns, f"not paired: the PLC's camera seq unreadable ({exc})")
            return 0, 0
        if now != seq:
            self.unpaired += 1
            self._reject(seq, trigger_ns, f"not paired: pack {now} reached the camera in the read")
            return (now, self._window[0]) if now > seq else (0, 0)
        self._verify(seq, read, trigger_ns, (sent_ns, read_ns))
        return 0, 0

    async def _camera_seq_now(self) -> int:
        """``Stations.Camera.LastSeq`` read now (one signal where the driver can); the window
        moves on to (start of the read before, start of this one)."""
        start_ns = time.time_ns()
        value = await read_camera_seq(self.plc)
        self._window = (self._window[1] or start_ns, start_ns)
        return value

    def _verify(self, seq: int, read: ReadResult, trigger_ns: int, stamps: tuple[int, int]) -> None:
        record = self.packs.get(seq)
        verifier = self.mirror.verifier
        if verifier is None:
            check = Check.reject(RejectReason.WRONG_CONTENT, "no batch active")
        else:
            expected = None if record is None else Expected(record.seq, record.serial, record.data)
            check = verifier.check_read(read, expected)
        if record is not None:
            record.frame_ns = trigger_ns
        self.inspection.hand_over(
            seq, self.inspection.conclude(seq, record, check, trigger_ns, stamps)
        )

    def _reject(self, seq: int, trigger_ns: int, why: str) -> None:
        """Pack ``seq`` gets no read that can be trusted: REJECT ``no-read``."""
        log.info("pack %d: %s", seq, why)
        record = self.packs.get(seq)
        if record is not None:
            record.frame_ns = trigger_ns
        check = Check.reject(RejectReason.NO_READ, why)
        now_ns = time.time_ns()
        self.inspection.hand_over(
            seq, self.inspection.conclude(seq, record, check, trigger_ns, (now_ns, now_ns))
        )
