"""SSCC labels of cases and pallets: what is printed, as ZPL or a PrintJob, and its verification.

A label carries the SSCC twice, as the GS1 logistic label does: a GS1-128 bar code with AI (00)
alone (what a warehouse scanner reads), and a GS1 DataMatrix with the SSCC and the content:
(00) SSCC, (02) GTIN of the units inside, (17) expiry, (37) count of units, (10) lot. The
human-readable lines repeat all of it. ``zpl()`` is the complete label for a Zebra printer
(both codes, text); ``print_job()`` is the same label reduced to one code plus text lines for
any ``drivers.interfaces.Printer`` (whose ``PrintJob`` holds one code).

Verification (``check``): a reader's read of the label, either code, must be a GS1 scan whose
SSCC equals the container's; anything else (no read, not GS1, another SSCC) fails, naming why.
"""

from __future__ import annotations

from dataclasses import dataclass

from drivers.interfaces import PrintJob
from drivers.zpl.fielddata import (
    DM_ESCAPE,
    FH_INDICATOR,
    encode_datamatrix,
    encode_field_hex,
    encode_gs1_128,
    needs_field_hex,
)
from linectl.ledger import ContainerLevel
from standards.gs1.errors import Gs1Error
from standards.gs1.scan import parse_scan

GS = "\x1d"


@dataclass(frozen=True)
class LabelCheck:
    """The outcome of verifying one read of a label."""

    ok: bool
    read: str | None
    reason: str  # "ok", or what was wrong


@dataclass(frozen=True)
class LabelLayout:
    """Positions in dots on a 4 x 6 inch label at 203 dpi (812 x 1218 dots)."""

    text_x: int = 40
    text_y: int = 40
    font: int = 34
    line: int = 46
    matrix_x: int = 560
    matrix_y: int = 40
    matrix_module: int = 8
    bar_x: int = 60
    bar_y: int = 420
    bar_module: int = 3
    bar_height: int = 200


@dataclass(frozen=True)
class ContainerLabel:
    """Everything printed on a case's or pallet's label."""

    sscc: str
    level: ContainerLevel
    gtin: str  # of the units inside
    lot: str
    expiry: str  # YYMMDD, as on the units
    units: int
    cases: int = 0  # on a pallet

    @property
    def sscc_data(self) -> str:
        """Element string of the GS1-128 code: (00) only."""
        return f"00{self.sscc}"

    @property
    def content_data(self) -> str:
        """Element string of the DataMatrix: SSCC, content GTIN, expiry, count, lot."""
        return f"00{self.sscc}02{self.gtin}17{self.expiry}37{self.units}{GS}10{self.lot}"

    def hri(self) -> tuple[str, ...]:
        """The human-readable lines."""
        count = f"{self.units}" + (f" ({self.cases} cases)" if self.cases else "")
        return (
            f"{self.level.value.upper()} SSCC (00) {self.sscc}",
            f"CONTENT (02) {self.gtin}",
            f"COUNT (37) {count}",
            f"LOT (10) {self.lot}",
            f"EXPIRY (17) {self.expiry}",
        )

    def print_job(self, seq: int = 0) -> PrintJob:
        """The label for a generic printer: the GS1-128 SSCC code and the text lines."""
        return PrintJob(seq=seq, data=self.sscc_data, hri=self.hri(), symbology="gs1-128")

    def zpl(self, layout: LabelLayout | None = None) -> bytes:
        """The complete ZPL II label: text, GS1 DataMatrix (^BX quality 200), GS1-128 (^BC)."""
        lay = layout or LabelLayout()
        parts = ["^XA", "^CI28", f"^FXlinectl sscc={self.sscc} level={self.level.value}^FS"]
        for n, text in enumerate(self.hri()):
            y = lay.text_y + n * lay.line
            parts.append(f"^FO{lay.text_x},{y}^A0N,{lay.font},{lay.font}{_fd(text)}")
        matrix = encode_datamatrix(self.content_data, gs1=True)
        parts.append(
            f"^FO{lay.matrix_x},{lay.matrix_y}^BXN,{lay.matrix_module},200,,,,{DM_ESCAPE}"
            f"{_fd(matrix)}"
        )
        parts.append(
            f"^FO{lay.bar_x},{lay.bar_y}^BY{lay.bar_module}^BCN,{lay.bar_height},Y,N,N"
            f"{_fd(encode_gs1_128(self.sscc_data))}"
        )
        parts += ["^PQ1", "^XZ"]
        return "\n".join(parts).encode("utf-8") + b"\n"

    def check(self, read: str | None) -> LabelCheck:
        """Verify a reader's read of this label (either code)."""
        if read is None or not read.strip():
            return LabelCheck(False, read, "no read")
        try:
            scan = parse_scan(read)
        except Gs1Error as exc:
            return LabelCheck(False, read, f"not a GS1 code: {exc}")
        if scan.sscc is None:
            return LabelCheck(False, read, "no SSCC (AI 00) in the read")
        if scan.sscc != self.sscc:
            return LabelCheck(False, read, f"read SSCC {scan.sscc}, expected {self.sscc}")
        return LabelCheck(True, read, "ok")


def _fd(data: str) -> str:
    if needs_field_hex(data):
        return f"^FH{FH_INDICATOR}^FD{encode_field_hex(data)}^FS"
    return f"^FD{data}^FS"
