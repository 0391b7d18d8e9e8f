"""Verification of one pack's code against what was sent to the printer for its seq (pure logic).

The checks run in a fixed order and the first failure names the reject reason: nothing decodes
(``no-print`` when the frame shows no mark at all, else ``no-read``), the symbol is not GS1
(``not-gs1``), its serial belongs to another pack or is already in the ledger (``duplicate``),
its AIs are not exactly those of the batch's market code profile with the values sent for this
seq (one missing, such as the national number, one different or one extra: ``wrong-content``),
its grade is below the line minimum (``low-grade``). Only a pack passing all of them is GOOD.

The hot path is one string comparison: when the decoded text equals the data sent for the seq,
nothing is parsed. Anything else is parsed with :func:`standards.gs1.scan.parse_scan` to tell the
reasons apart.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from drivers.camera.decode import DecodeResult
from drivers.interfaces import ReadResult
from linectl.config import CodeForm, CodeProfile
from linectl.config.markets import hri_parts
from linectl.line.reasons import RejectReason
from standards.gs1.ai import spec_for, validate_value
from standards.gs1.code_layout import CodeLayout
from standards.gs1.errors import Gs1Error
from standards.gs1.scan import parse_scan

_GRADE_VALUE = {"A": 4.0, "B": 3.0, "C": 2.0, "D": 1.0, "E": 0.5, "F": 0.0}

MARK_CONTRAST_MIN = 12
"""Grey levels between the median and the darkest 1 % of the frame's centre that count as a mark.

A blank carton under the line's camera spreads by about 6 levels (board texture and sensor
noise); the faintest print the simulator draws (ink at 92 % of the board) by 17 or more.
"""


def grade_meets(grade: str | None, minimum: str) -> bool:
    """True when ``grade`` (A-F) is at or above ``minimum``; an unknown grade never passes."""
    if grade is None or grade not in _GRADE_VALUE:
        return False
    return _GRADE_VALUE[grade] >= _GRADE_VALUE[minimum]


def mark_present(image: npt.NDArray[np.uint8]) -> bool:
    """Whether the centre of a grey frame holds any print (to tell no-print from no-read)."""
    height, width = image.shape
    centre = image[height // 4 : 3 * height // 4 : 2, width // 4 : 3 * width // 4 : 2]
    if centre.size == 0:
        return False
    low, median = np.percentile(centre, (1, 50))
    return bool(median - low >= MARK_CONTRAST_MIN)


@dataclass(frozen=True, slots=True)
class Expected:
    """What was sent to the printer for pack ``seq``."""

    seq: int
    serial: str
    data: str


@dataclass(frozen=True, slots=True)
class Check:
    """The outcome of verifying one frame.

    ``ask_ledger`` names a decoded serial that this run does not know: the caller asks the ledger
    whether it exists (then it is a duplicate) before settling on ``wrong-content``.
    """

    good: bool
    reason: RejectReason | None
    grade: str | None
    serial: str | None = None
    detail: str = ""
    ask_ledger: str | None = None

    @staticmethod
    def reject(
        reason: RejectReason,
        detail: str = "",
        *,
        grade: str | None = None,
        serial: str | None = None,
    ) -> Check:
        return Check(False, reason, grade, serial, detail)


class CodeContent:
    """The data the line marks for a batch: its market code profile filled in with the batch.

    Without a profile the line's ``code_form`` decides and the AIs are (01) (17) (10) (21).
    Everything but the serial is checked and joined once here; per pack :meth:`data` and
    :meth:`hri` only join the serial in (the per-pack cost does not grow with the profile).
    """

    def __init__(
        self,
        code_form: CodeForm,
        *,
        gtin: str,
        lot: str,
        expiry: str,
        domain: str = "https://id.gs1.org",
        allow_day_zero: bool = False,
        profile: CodeProfile | None = None,
        code_fields: Mapping[str, str] | None = None,
    ) -> None:
        self.gtin = gtin
        self.lot = lot
        self.expiry = expiry
        self.domain = domain.rstrip("/")
        self.profile = profile
        if profile is None:
            digital_link = code_form is not CodeForm.ELEMENT_STRING_DATAMATRIX
            layout = CodeLayout(_LEGACY_AIS, digital_link=digital_link)
            self.symbology = "qr" if code_form is CodeForm.DIGITAL_LINK_QR else "datamatrix"
        else:
            layout = profile.layout
            self.symbology = profile.symbology
        self.element_string = not layout.digital_link
        values = {"01": gtin, "17": expiry, "10": lot}
        values = {ai: v for ai, v in values.items() if ai in layout.ais} | dict(code_fields or {})
        self.template = layout.template(values, domain=self.domain, allow_day_zero=allow_day_zero)
        self._hri = hri_parts(profile.hri, self.template.values) if profile is not None else None

    @property
    def ais(self) -> tuple[str, ...]:
        """The AIs every code carries, in marking order."""
        return self.template.layout.ais

    def data(self, serial: str) -> str:
        """The code's data for ``serial`` (GS1Error if the serial is not a valid AI 21 value)."""
        validate_value("21", serial)
        return self.template.data(serial)

    def hri(self, serial: str) -> tuple[str, ...]:
        """Human-readable lines beside the code: the profile's, else three (so a WSI message's
        fields suffice): ``(01)...``, ``(17)... (10)...``, ``(21)...``."""
        if self._hri is None:
            return (f"(01){self.gtin}", f"(17){self.expiry} (10){self.lot}", f"(21){serial}")
        return tuple(head if tail is None else head + serial + tail for head, tail in self._hri)

    def differences(self, found: Mapping[str, str], serial: str) -> list[str]:
        """What in a scan's AIs differs from the code for ``serial``: each AI missing, different
        or not part of the profile, named (empty: the content is exactly the profile's)."""
        expected = self.template.expected(serial)
        wrong: list[str] = []
        for ai, want in expected.items():
            got = found.get(ai)
            name = f"{spec_for(ai).name} ({ai})"
            if got is None:
                wrong.append(f"{name} missing")
            elif got != want:
                wrong.append(f"{name} differs")
        wrong += [f"AI ({ai}) not in the profile" for ai in found if ai not in expected]
        return wrong


_LEGACY_AIS = ("01", "17", "10", "21")
_GS1_SYMBOLOGIES = frozenset({"gs1-datamatrix", "gs1-qr"})  # drivers.reader_codec.SYMBOLOGY_IDS


class Verifier:
    """Judges decode results for one batch (see the module docstring)."""

    def __init__(
        self,
        content: CodeContent,
        min_grade: str,
        *,
        issued_to: Callable[[str], int | None],
        verified: Callable[[str], bool],
    ) -> None:
        self.content = content
        self.min_grade = min_grade
        self._issued_to = issued_to  # serial -> the seq it was sent for in this run, if any
        self._verified = verified  # serial -> already judged GOOD in this run

    def check(
        self, result: DecodeResult, expected: Expected | None, *, mark: bool | None = None
    ) -> Check:
        """The verdict for ``result``; ``mark`` says whether the frame shows print (no-reads)."""
        symbol = result.symbol
        grade = result.grade.overall if result.grade is not None else None
        if symbol is None:
            if mark is False:
                return Check.reject(RejectReason.NO_PRINT, "no mark in the frame")
            return Check.reject(RejectReason.NO_READ, "no symbol decoded")
        text = symbol.text
        if expected is not None and text == expected.data and self._gs1_symbol(symbol.is_gs1):
            return self._judge(expected.serial, grade, expected.seq)
        return self._content(text, symbol.is_gs1, symbol.symbology_identifier, grade, expected)

    def check_read(self, read: ReadResult, expected: Expected | None) -> Check:
        """The verdict for a smart reader's read, judged as :meth:`check` judges a decode, with
        the reader's own grade. A reader cannot tell an empty pack from an unreadable code: its
        no-read is ``no-read``. GS1 is recognised by the AIM identifier the reader prefixes."""
        text = read.text
        if text is None:
            return Check.reject(RejectReason.NO_READ, "the reader reported a no-read")
        ident = read.detail.get("symbology_id")
        is_gs1 = read.symbology in _GS1_SYMBOLOGIES
        if expected is not None and text == expected.data and self._gs1_symbol(is_gs1):
            return self._judge(expected.serial, read.grade, expected.seq)
        return self._content(text, is_gs1, ident or "none (turn the reader's on)", read.grade,
                             expected)  # fmt: skip

    def _content(
        self, text: str, is_gs1: bool, ident: str, grade: str | None, expected: Expected | None
    ) -> Check:
        """Why decoded ``text`` that is not exactly the data sent is rejected (or its judgement
        when it is the same data in another form)."""
        if self.content.element_string and not is_gs1:
            return Check.reject(RejectReason.NOT_GS1, f"symbology identifier {ident}", grade=grade)
        try:
            scan = parse_scan(text)
        except Gs1Error as exc:
            reason = RejectReason.WRONG_CONTENT if is_gs1 else RejectReason.NOT_GS1
            return Check.reject(reason, f"unreadable content: {exc}", grade=grade)
        serial = scan.serial
        if serial is not None and (expected is None or serial != expected.serial):
            other = self._issued_to(serial)
            if other is not None:
                return Check.reject(
                    RejectReason.DUPLICATE,
                    f"serial {serial} was sent for pack {other}",
                    grade=grade,
                )
            if scan.gtin == self.content.gtin:
                return Check(
                    False,
                    RejectReason.WRONG_CONTENT,
                    grade,
                    serial,
                    f"serial {serial} is not the one sent",
                    ask_ledger=serial,
                )
        if expected is None:
            return Check.reject(
                RejectReason.WRONG_CONTENT, "no print job was sent for this pack", grade=grade
            )
        wrong = self.content.differences(scan.ai, expected.serial)
        if wrong:
            return Check.reject(
                RejectReason.WRONG_CONTENT, "; ".join(wrong), grade=grade, serial=serial
            )
        return self._judge(expected.serial, grade, expected.seq)

    def _gs1_symbol(self, is_gs1: bool) -> bool:
        return is_gs1 or not self.content.element_string

    def _judge(self, serial: str, grade: str | None, seq: int) -> Check:
        if self._verified(serial):
            return Check.reject(
                RejectReason.DUPLICATE, f"serial {serial} already verified", grade=grade
            )
        if not grade_meets(grade, self.min_grade):
            return Check.reject(
                RejectReason.LOW_GRADE,
                f"grade {grade or 'unknown'} below {self.min_grade}",
                grade=grade,
                serial=serial,
            )
        return Check(True, None, grade, serial)
