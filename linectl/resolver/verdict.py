"""What a scan of one pack means to the person holding it: pure, from the records alone.

Order of precedence: an unknown serial (never commissioned, or a code that does not match what
was commissioned) is a possible counterfeit; then a recalled lot; then a pack out of the supply
chain (destroyed, sampled, decommissioned); then an expired one; then a pack scanned before; and
only then genuine on its first scan.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, replace
from datetime import date
from typing import Any

from linectl.resolver.feed import SerialStatus
from linectl.resolver.model import LotRecord, SerialRecord


class Verdict(enum.StrEnum):
    GENUINE = "genuine"
    SCANNED_BEFORE = "scanned-before"
    UNKNOWN = "unknown"
    RECALLED = "recalled"
    DECOMMISSIONED = "decommissioned"
    DESTROYED = "destroyed"
    EXPIRED = "expired"


#: Verdicts under which the pack is the brand's genuine product and may be used.
GENUINE_VERDICTS = frozenset({Verdict.GENUINE, Verdict.SCANNED_BEFORE})


@dataclass(frozen=True)
class Verification:
    """The answer for one scanned pack."""

    verdict: Verdict
    gtin: str
    serial: str | None
    lot: str | None
    expiry: str | None
    detail: str
    previous_scans: int = 0
    first_scan_ms: int | None = None
    first_scan_country: str | None = None
    recall_reason: str | None = None
    status: str | None = None
    """The serial's status from the events (commissioned, shipped, decommissioned, ...)."""
    container: str | None = None
    """The SSCC of the case (or its pallet) holding the pack."""
    shipped_to: str | None = None

    @property
    def genuine(self) -> bool:
        return self.verdict in GENUINE_VERDICTS

    def to_json(self) -> dict[str, Any]:
        return {
            "verdict": self.verdict.value,
            "genuine": self.genuine,
            "gtin": self.gtin,
            "serial": self.serial,
            "lot": self.lot,
            "expiry": self.expiry,
            "detail": self.detail,
            "previous_scans": self.previous_scans,
            "first_scan_ms": self.first_scan_ms,
            "first_scan_country": self.first_scan_country,
            "recall_reason": self.recall_reason,
            "status": self.status,
            "container": self.container,
            "shipped_to": self.shipped_to,
        }


def verify(
    gtin: str,
    serial: str | None,
    scanned_lot: str | None,
    record: SerialRecord | None,
    lot: LotRecord | None,
    today: date,
    scanned_expiry: date | None = None,
) -> Verification:
    """The verdict for a scan of ``gtin`` / ``serial`` (lot and expiry as printed, if the code
    holds them: a printed value that differs from the commissioned one is a warning sign)."""
    if record is None:
        detail = "serial never commissioned" if serial else "no serial in the code"
        return Verification(Verdict.UNKNOWN, gtin, serial, scanned_lot, None, detail)
    if scanned_lot is not None and record.lot is not None and scanned_lot != record.lot:
        return Verification(
            Verdict.UNKNOWN,
            gtin,
            serial,
            scanned_lot,
            None,
            f"the code says lot {scanned_lot}, the serial was commissioned in another lot",
        )
    if (
        scanned_expiry is not None
        and record.expiry is not None
        and scanned_expiry != date.fromisoformat(record.expiry)
    ):
        return Verification(
            Verdict.UNKNOWN,
            gtin,
            serial,
            scanned_lot,
            None,
            f"the code says expiry {scanned_expiry.isoformat()}, the serial was commissioned "
            "with another",
        )
    base = Verification(
        Verdict.GENUINE,
        gtin,
        serial,
        record.lot,
        record.expiry,
        "first scan",
        previous_scans=record.scan_count,
        first_scan_ms=record.first_scan_ms,
        first_scan_country=record.first_scan_country,
        status=record.status,
        container=record.pallet or record.parent,
        shipped_to=record.shipped_to,
    )
    if lot is not None and lot.recalled:
        return replace(
            base, verdict=Verdict.RECALLED, detail="lot recalled", recall_reason=lot.recall_reason
        )
    if record.status in (SerialStatus.DESTROYED, SerialStatus.SAMPLED):
        return replace(base, verdict=Verdict.DESTROYED, detail=record.status_detail or "")
    if record.status == SerialStatus.DECOMMISSIONED:
        return replace(base, verdict=Verdict.DECOMMISSIONED, detail=record.status_detail or "")
    if record.expiry is not None and date.fromisoformat(record.expiry) < today:
        return replace(base, verdict=Verdict.EXPIRED, detail=f"expired on {record.expiry}")
    if record.scan_count > 0:
        return replace(base, verdict=Verdict.SCANNED_BEFORE, detail="scanned before")
    return base
