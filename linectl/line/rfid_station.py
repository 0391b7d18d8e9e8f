"""The RFID reader station: a fixed LLRP reader at the camera checks each pack's tag.

The printer encodes each unit's EPC into the pack's tag (ZPL ``^RF``); the reader's antenna sits
at the camera station and is triggered by the same PLC trigger as the camera: once for each seq
the PLC reports at the camera, its inventory paired with that seq by the rule of
:mod:`linectl.line.camera_trigger` (certain, or the pack is unread). The tags of a paired read
are judged against the unit's EPC (SGTIN-96 when its serial fits, else SGTIN-198, from the
batch's GTIN, the serial and ``[line] company_prefix_length``) by
:func:`linectl.line.tag_checks.judge`, and the verdict goes to :class:`TagChecks`, where the
inspection joins it with the printed code's (:meth:`linectl.line.inspection.Inspection.conclude`):

* exactly one tag with the unit's EPC, at ``min_rssi_dbm`` or above, and no other tag at or
  above that weak-tag limit: good;
* no tag, an unread pack (not paired, not triggered, a failed read), or no verdict in time:
  ``rfid-no-read``; the unit's tag below ``min_rssi_dbm``: ``rfid-weak``; another EPC:
  ``rfid-mismatch``;
* two tags holding the unit's EPC, or a tag whose EPC is on a unit already commissioned (this
  run, or the ledger's ``unit_tags``, or the GTIN and serial the EPC names): ``rfid-duplicate``.
  (The unit's own EPC cannot be on another commissioned unit: a serial is in the ledger once per
  GTIN. So the ledger is asked only about an EPC that is not the unit's.)

A read that fails marks the reader lost (the line holds) and it is connected again every
``retry_s``, as the smart reader station does. The station counts its reads, good tags and
rejects by reason for the status document (``rfid``) and the counters (``rfid_good``,
``rfid_rejects``).
"""

from __future__ import annotations

import asyncio
import logging
from collections import OrderedDict
from dataclasses import replace
from typing import Any

from drivers.interfaces import Plc, TagReader, TagReadResult, Verdict
from linectl.config import LineConfig
from linectl.ledger import Ledger, LedgerError
from linectl.line.camera_trigger import CameraTrigger
from linectl.line.devices import LineDevices
from linectl.line.health import DeviceWatch
from linectl.line.inspection import Inspection
from linectl.line.packs import PackRecord, PackTable
from linectl.line.reasons import RejectReason
from linectl.line.state import LineMirror, Tally
from linectl.line.tag_checks import TagCheck, TagChecks, judge
from standards.epc.binary import EpcEncodingError, sgtin_epc

log = logging.getLogger("linectl.runtime")

ROLE = "rfid"
"""The RFID reader's role in device health."""

_RECENT = 4096  # EPCs judged good lately, by serial (not yet durable in the ledger, maybe)


class RfidStation(CameraTrigger[TagReadResult]):
    """Stage: read the tags of each pack the PLC reports at the camera; pair; judge."""

    role = ROLE

    def __init__(
        self,
        reader: TagReader,
        plc: Plc,
        checks: TagChecks,
        packs: PackTable,
        mirror: LineMirror,
        devices: DeviceWatch,
        ledger: Ledger,
        tally: Tally,
        *,
        company_prefix_length: int,
        min_rssi_dbm: float = -70.0,
        poll_s: float = 0.005,
        retry_s: float = 0.5,
    ) -> None:
        super().__init__(reader, plc, mirror, devices, poll_s=poll_s, retry_s=retry_s)
        self.reader = reader
        self.checks = checks
        self.packs = packs
        self.ledger = ledger
        self.tally = tally
        self.company_prefix_length = company_prefix_length
        self.min_rssi_dbm = min_rssi_dbm
        self.good = 0
        self.rejects: dict[str, int] = {}
        self.last_rssi_dbm: int | None = None  # of the last good tag
        self._recent: OrderedDict[str, PackRecord] = OrderedDict()  # EPC -> pack, tag good
        tally.counters.setdefault("rfid_good", 0)
        tally.counters.setdefault("rfid_rejects", 0)

    @classmethod
    def for_line(
        cls,
        config: LineConfig,
        devices: LineDevices,
        inspection: Inspection,
        packs: PackTable,
        mirror: LineMirror,
        health: DeviceWatch,
        ledger: Ledger,
        tally: Tally,
    ) -> RfidStation | None:
        """The station of a line with an RFID reader (``devices.rfid``), its verdicts handed to
        ``inspection`` (a GOOD pack needs a good tag too); None for a line without one."""
        if devices.rfid is None:
            return None
        station = cls(
            devices.rfid, devices.plc, TagChecks(), packs, mirror, health, ledger, tally,
            company_prefix_length=config.line.company_prefix_length,
            min_rssi_dbm=devices.min_rssi_dbm,
        )  # fmt: skip
        inspection.tags = station.checks
        return station

    async def read(self, seq: int) -> TagReadResult:
        return await self.reader.read_tags(seq)

    async def paired(
        self, seq: int, result: TagReadResult, trigger_ns: int, stamps: tuple[int, int]
    ) -> None:
        """Judge the tags of pack ``seq``'s read and hand the verdict to the inspection."""
        record = self.packs.get(seq)
        batch = self.mirror.batch
        if record is None or batch is None:
            check = TagCheck(RejectReason.RFID_MISMATCH, "no unit was sent for this pack")
        else:
            try:  # the EPC the feeder sent the printer with the job, else the unit's own
                expected = (
                    record.epc
                    or sgtin_epc(batch.gtin, record.serial, self.company_prefix_length).hex
                )
            except EpcEncodingError as exc:
                check = TagCheck(RejectReason.RFID_MISMATCH, f"the unit has no EPC: {exc}")
            else:
                check = judge(result.tags, expected, self.min_rssi_dbm)
                check = await self._copied(check, expected, record.serial)
        if check.good and check.tag is not None and record is not None:
            self._recent[check.tag.epc] = record
            while len(self._recent) > _RECENT:
                self._recent.popitem(last=False)
            self.last_rssi_dbm = max(
                (t.rssi_dbm for t in result.tags if t.rssi_dbm is not None), default=None
            )
        self._put(seq, replace(check, serial=None if record is None else record.serial))

    async def unread(self, seq: int, trigger_ns: int, why: str) -> None:
        """Pack ``seq``'s tags were not read (or not certainly its own): ``rfid-no-read``."""
        log.info("pack %d: tag %s", seq, why)
        record = self.packs.get(seq)
        serial = None if record is None else record.serial
        self._put(seq, TagCheck(RejectReason.RFID_NO_READ, why, serial=serial))

    async def _copied(self, check: TagCheck, expected: str, serial: str) -> TagCheck:
        """``rfid-duplicate`` for a tag whose (foreign) EPC a commissioned unit has already."""
        if check.reason is not RejectReason.RFID_MISMATCH or check.tag is None:
            return check
        epc = check.tag.epc
        if epc == expected:
            return check  # another tag above the limit beside the unit's: the mismatch stands
        earlier = self._recent.get(epc)  # a pack of this run whose tag was judged good ...
        holder = None
        if earlier is not None and earlier.verdict is Verdict.GOOD:  # ... and that was accepted
            holder = earlier.serial
        if holder is None:
            try:
                holder = await asyncio.to_thread(self.ledger.tags.holder, epc)
            except LedgerError as exc:  # the reject stands; only its reason is less precise
                log.warning("could not ask the ledger about tag EPC %s: %s", epc, exc)
        if holder is None or holder == serial:
            return check
        return TagCheck(
            RejectReason.RFID_DUPLICATE,
            f"the tag holds EPC {epc}, already commissioned on serial {holder}",
            check.tag,
        )

    def _put(self, seq: int, check: TagCheck) -> None:
        counters = self.tally.counters
        if check.good:
            self.good += 1
            counters["rfid_good"] += 1
        else:
            reason = check.reason.value if check.reason is not None else "?"
            self.rejects[reason] = self.rejects.get(reason, 0) + 1
            counters["rfid_rejects"] += 1
        self.checks.put(seq, check)
        self.mirror.changed()

    def status(self) -> dict[str, Any]:
        """The station's part of the status document."""
        return {
            "reads": self.reads,
            "good": self.good,
            "rejects": dict(sorted(self.rejects.items())),
            "unpaired": self.unpaired,
            "untriggered": self.untriggered,
            "late": self.checks.missed,
            "min_rssi_dbm": self.min_rssi_dbm,
            "last_rssi_dbm": self.last_rssi_dbm,
        }
