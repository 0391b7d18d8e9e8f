"""A smart reader (Cognex DMCC, Keyence SR) as the line's verification source, paired by trigger.

The reader is triggered once for each seq the PLC reports at the camera and its read is paired
with that seq by the rule of :mod:`linectl.line.camera_trigger` (the camera seq read before the
trigger and again after the reply shows the same pack), which makes the pairing certain or
rejects the pack ``no-read``: a read the camera seq moved under ("not paired"), packs that passed
between two polls ("not triggered"), a no-read, and a read that fails (timeout, lost connection,
refused trigger; the reader is then lost, the line holds, and the stage connects to it again every
``retry_s`` until it answers).

A paired read is verified as a camera decode is (:meth:`linectl.line.verify.Verifier.check_read`,
with the reader's own ISO/IEC 15415 grade against the line minimum) and its verdict goes through
:meth:`linectl.line.inspection.Inspection.conclude`: ledger duplicate check, print confirmation,
deadline (``late``), the PLC write. The deadline counts from the start of the last read that
still showed the previous seq, the earliest moment the pack can have reached the camera.
"""

from __future__ import annotations

import logging
import time

from drivers.interfaces import CodeReader, Plc, ReadResult
from linectl.line.camera_trigger import CameraTrigger
from linectl.line.health import DeviceWatch
from linectl.line.inspection import Inspection
from linectl.line.packs import PackTable
from linectl.line.reasons import RejectReason
from linectl.line.state import LineMirror
from linectl.line.verify import Check, Expected

log = logging.getLogger("linectl.runtime")

ROLE = "reader"
"""The verification reader's role in device health (the camera's is ``camera``)."""


class ReaderStation(CameraTrigger[ReadResult]):
    """Stage: trigger the reader for each pack the PLC reports at the camera; pair; verify."""

    role = ROLE

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
        super().__init__(reader, plc, mirror, devices, poll_s=poll_s, retry_s=retry_s)
        self.reader = reader
        self.inspection = inspection
        self.packs = packs

    async def read(self, seq: int) -> ReadResult:
        return await self.reader.read(seq)

    async def paired(
        self, seq: int, result: ReadResult, trigger_ns: int, stamps: tuple[int, int]
    ) -> None:
        """Verify the read as a camera decode and conclude the pack's verdict."""
        record = self.packs.get(seq)
        verifier = self.mirror.verifier
        if verifier is None:
            check = Check.reject(RejectReason.WRONG_CONTENT, "no batch active")
        else:
            expected = None if record is None else Expected(record.seq, record.serial, record.data)
            check = verifier.check_read(result, expected)
        if record is not None:
            record.frame_ns = trigger_ns
        self.inspection.hand_over(
            seq, self.inspection.conclude(seq, record, check, trigger_ns, stamps)
        )

    async def unread(self, seq: int, trigger_ns: int, why: str) -> None:
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
