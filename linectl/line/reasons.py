"""Reject reason codes: the text stored in the ledger and the number written to the PLC's HMI.

Every pack that is not commissioned is scrapped with exactly one of these codes, and the line
counts them per batch. The numbers go into the verdict slot's ``Reason`` word for the HMI; 0 is
"no reason" (a GOOD verdict).
"""

from __future__ import annotations

import enum


class RejectReason(enum.StrEnum):
    """Why a serial was scrapped (ledger text) and, via :attr:`plc_code`, the HMI number."""

    NO_READ = "no-read"  # a mark is there but nothing decodes (or no frame arrived)
    NOT_GS1 = "not-gs1"  # decodes, but not as GS1 (e.g. ]d1 instead of ]d2)
    WRONG_CONTENT = "wrong-content"  # GTIN, lot, expiry or serial differ from what was sent
    DUPLICATE = "duplicate"  # the serial is on another pack or commissioned already
    LOW_GRADE = "low-grade"  # decodes right, grade below thresholds.min_grade
    LATE = "late"  # the verdict would have reached (or did reach) the PLC too late
    NO_PRINT_CONFIRMATION = "no-print-confirmation"  # the printer never confirmed this print
    NO_PRINT = "no-print"  # nothing printed on the pack
    REJECT_UNCONFIRMED = "reject-unconfirmed"  # the gate's sensor did not confirm the reject
    CRASH_RECOVERY = "crash-recovery"  # left Encoded by a crash, outcome unknown
    CANCELLED = "cancelled"  # written ahead, but its print job was cancelled before any pack
    LINE_STOPPED = "line-stopped"  # on the conveyor when the line stopped for good (shutdown,
    # batch close): not yet verified, or its GOOD verdict was revoked in the PLC
    RFID_ENCODE = "rfid-encode"  # the RFID printer did not read back the tag's EPC (a void
    # label), or its read-back was not in by the verdict deadline
    RFID_NO_READ = "rfid-no-read"  # the RFID reader saw no tag (or no tag check came in time)
    RFID_WEAK = "rfid-weak"  # the unit's tag answered below devices.NAME.options.min_rssi_dbm
    RFID_MISMATCH = "rfid-mismatch"  # the pack's tag holds another EPC than the unit's
    RFID_DUPLICATE = "rfid-duplicate"  # two tags with the unit's EPC, or an EPC commissioned
    # on another unit already

    @property
    def plc_code(self) -> int:
        """The number written to the verdict slot's Reason word (1-based, stable)."""
        return _PLC_CODES[self]


_PLC_CODES = {reason: number for number, reason in enumerate(RejectReason, start=1)}
