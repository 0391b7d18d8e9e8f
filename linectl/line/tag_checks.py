"""The RFID reader station's verdict on each pack's tag, and how it joins the printed code's.

:func:`judge` decides on one read, pure: the tags the reader saw against the unit's EPC.
:class:`TagChecks` carries the verdicts from the station (:mod:`linectl.line.rfid_station`) to the
inspection (:meth:`linectl.line.inspection.Inspection.conclude`), keyed by pack seq: a pack whose
printed code checks good also needs a good tag, awaited until the verdict is due and no longer
(none by then is ``rfid-no-read``: fail-safe). A pack bad on both counts keeps the printed code's
reason. Whatever tag was judged is noted on the pack record, for the ledger's ``unit_tags``.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Sequence
from dataclasses import dataclass

from drivers.interfaces import TagRead
from linectl.ledger import UnitTag
from linectl.ledger.unit_tags import HEX_WORDS
from linectl.line.packs import PackRecord
from linectl.line.reasons import RejectReason
from linectl.line.verify import Check
from standards.epc.binary import EpcEncodingError, decode

R = RejectReason


@dataclass(frozen=True, slots=True)
class TagCheck:
    """One pack's tag verdict: ``reason`` None is good; ``tag`` is the tag judged, if any."""

    reason: RejectReason | None
    detail: str = ""
    tag: UnitTag | None = None
    serial: str | None = None
    """The unit the tag was judged for (set by the station): a verdict is only ever taken for
    that unit, never for a later pack that reuses the seq (the PLC restarted, say)."""

    @property
    def good(self) -> bool:
        return self.reason is None


def unit_tag(read: TagRead) -> UnitTag | None:
    """What the ledger keeps of a tag read: EPC, its pure identity URI if it decodes, TID. None
    for an EPC that is not whole 16-bit words (LLRP allows any length: a foreign tag's EPC may
    be empty or odd), which the ledger could not store; a TID like that is left out."""
    epc, tid = read.epc.upper(), (read.tid or "").upper()
    if not HEX_WORDS.match(epc):
        return None
    try:
        uri: str | None = decode(epc).pure_identity_uri
    except (EpcEncodingError, ValueError):
        uri = None
    return UnitTag(epc, uri, tid if HEX_WORDS.match(tid) else None)


def _rssi(read: TagRead) -> str:
    return "no RSSI" if read.rssi_dbm is None else f"{read.rssi_dbm} dBm"


def judge(tags: Sequence[TagRead], expected: str, min_rssi_dbm: float) -> TagCheck:
    """The verdict on the tags of one read for a unit whose EPC (hex) is ``expected``.

    Good is exactly one tag holding the unit's EPC, answering at ``min_rssi_dbm`` or above, and
    no other tag answering above that weak-tag limit (another pack's tag that strong means the
    station cannot tell which tag is this pack's). A reader that reports no RSSI cannot show the
    margin: weak.
    """
    expected = expected.upper()
    if not tags:
        return TagCheck(R.RFID_NO_READ, "the RFID reader saw no tag")
    own = [t for t in tags if t.epc.upper() == expected]
    if len(own) > 1:
        tids = ", ".join(t.tid or "?" for t in own)
        return TagCheck(
            R.RFID_DUPLICATE, f"{len(own)} tags hold the unit's EPC {expected} (TIDs {tids})",
            unit_tag(own[0]),
        )  # fmt: skip
    if not own:
        other = max(tags, key=lambda t: -999 if t.rssi_dbm is None else t.rssi_dbm)
        return TagCheck(
            R.RFID_MISMATCH, f"the tag holds EPC {other.epc}, not the unit's {expected}",
            unit_tag(other),
        )  # fmt: skip
    tag = own[0]
    if tag.rssi_dbm is None or tag.rssi_dbm < min_rssi_dbm:
        return TagCheck(
            R.RFID_WEAK, f"the unit's tag answered at {_rssi(tag)}, below {min_rssi_dbm} dBm",
            unit_tag(tag),
        )  # fmt: skip
    strong = [
        t for t in tags if t is not tag and (t.rssi_dbm is None or t.rssi_dbm >= min_rssi_dbm)
    ]
    if strong:
        return TagCheck(
            R.RFID_MISMATCH, f"another tag (EPC {strong[0].epc}, {_rssi(strong[0])}) answers "
            f"above the weak-tag limit ({min_rssi_dbm} dBm) beside the unit's", unit_tag(tag),
        )  # fmt: skip
    return TagCheck(None, "", unit_tag(tag))


class TagChecks:
    """Tag verdicts by pack seq, from the station to the inspection (see the module docstring).

    The newest ``keep`` verdicts not yet taken are kept (a verdict that came after its pack was
    concluded is never taken); a waiter is woken the moment its pack's verdict is put.
    """

    def __init__(self, keep: int = 1024) -> None:
        self.keep = keep
        self._ready: dict[int, TagCheck] = {}
        self._waiting: dict[int, asyncio.Future[TagCheck]] = {}
        self.missed = 0  # packs concluded without a tag verdict in time

    def put(self, seq: int, check: TagCheck) -> None:
        """The station's verdict on pack ``seq``'s tag."""
        waiter = self._waiting.pop(seq, None)
        if waiter is not None and not waiter.done():
            waiter.set_result(check)
            return
        self._ready.pop(seq, None)
        self._ready[seq] = check
        while len(self._ready) > self.keep:
            del self._ready[next(iter(self._ready))]

    async def wait(self, seq: int, until_ns: int, serial: str | None = None) -> TagCheck:
        """Pack ``seq``'s tag verdict for unit ``serial``, waited for until ``until_ns`` (wall
        clock) at most. A verdict judged for another unit (an older pack with the same seq) is
        dropped, never taken."""
        ready = self._ready.pop(seq, None)
        if ready is not None and ready.serial == serial:
            return ready
        left = (until_ns - time.time_ns()) / 1e9
        if left > 0:
            waiter: asyncio.Future[TagCheck] = asyncio.get_running_loop().create_future()
            self._waiting[seq] = waiter
            try:
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(left):
                        verdict = await waiter
                    if verdict.serial == serial:
                        return verdict
                    self.missed += 1
                    return TagCheck(
                        R.RFID_NO_READ,
                        f"the tag verdict for seq {seq} was judged for unit {verdict.serial}, "
                        f"not {serial}",
                        serial=serial,
                    )
            finally:
                if self._waiting.get(seq) is waiter:
                    del self._waiting[seq]
        self.missed += 1
        return TagCheck(
            R.RFID_NO_READ,
            "no tag verdict came in before the pack's verdict was due",
            serial=serial,
        )

    async def join(self, seq: int, record: PackRecord | None, check: Check, until_ns: int) -> Check:
        """``check`` of pack ``seq``'s printed code joined with its tag's verdict: a good code
        waits for the tag (until ``until_ns``) and takes its reason; a bad one keeps its own."""
        serial = None if record is None else record.serial
        if not check.good:
            tag = self._ready.pop(seq, None)
            if tag is not None and record is not None and tag.serial == serial:
                record.tag = tag.tag
            return check
        verdict = await self.wait(seq, until_ns, serial)
        if record is not None:
            record.tag = verdict.tag
        if verdict.good:
            return check
        assert verdict.reason is not None
        return Check.reject(verdict.reason, verdict.detail, grade=check.grade, serial=check.serial)
