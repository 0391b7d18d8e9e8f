"""SSCC labels of cases and pallets: what is printed on them, and the verification of a read.

A label carries the SSCC twice, as the GS1 logistic label does: a GS1-128 bar code with AI (00)
alone (what a warehouse scanner reads), and a GS1 DataMatrix with the SSCC and the content:
(00) SSCC, (02) GTIN of the units inside, (17) expiry, (37) count of units, (10) lot. The
human-readable lines repeat all of it. A :class:`ContainerLabel` is a
``drivers.interfaces.LogisticLabel``: a ZPL printer lays it out by the line's ``case`` or
``pallet`` layout (``[labels]``, docs/labels.md), a WSI printer fills its message's fields.

Verification (``check``): a reader's read of the label, either code, must be a GS1 scan whose
SSCC equals the container's; anything else (no read, not GS1, another SSCC) fails, naming why.
"""

from __future__ import annotations

from dataclasses import dataclass

from drivers.interfaces import LogisticLabel
from standards.gs1.errors import Gs1Error
from standards.gs1.scan import parse_scan


@dataclass(frozen=True)
class LabelCheck:
    """The outcome of verifying one read of a label."""

    ok: bool
    read: str | None
    reason: str  # "ok", or what was wrong


@dataclass(frozen=True, slots=True)
class ContainerLabel(LogisticLabel):
    """A case's or pallet's label: what it says (any ``LabelPrinter`` lays it out its own way),
    and the verification of a read of it. ``level`` is a :class:`ContainerLevel`."""

    def check(self, read: str | None) -> LabelCheck:
        """Verify a reader's read of this label (either code)."""
        return check_read(self.sscc, read)


def check_read(sscc: str, read: str | None) -> LabelCheck:
    """Verify a reader's read of the label of container ``sscc``: only its SSCC is checked."""
    if read is None or not read.strip():
        return LabelCheck(False, read, "no read")
    try:
        scan = parse_scan(read)
    except Gs1Error as exc:
        return LabelCheck(False, read, f"not a GS1 code: {exc}")
    if scan.sscc is None:
        return LabelCheck(False, read, "no SSCC (AI 00) in the read")
    if scan.sscc != sscc:
        return LabelCheck(False, read, f"read SSCC {scan.sscc}, expected {sscc}")
    return LabelCheck(True, read, "ok")
