"""A range of SSCCs reserved for one line: serial references under the company prefix.

The configuration's ``[upstream.sscc]`` with ``source = "range"`` names one; it is refused at load
time when it does not fit the prefix, and the line issues SSCCs from it in order.
"""

from __future__ import annotations

from dataclasses import dataclass

from standards.gs1.checkdigit import CheckDigitError, make_sscc, validate_sscc


class SsccRangeError(ValueError):
    """A range that cannot be used, or an SSCC outside it; the message names the value."""


class SsccRangeExhausted(SsccRangeError):
    """Every serial reference of the configured range has been issued."""


@dataclass(frozen=True)
class SsccRange:
    """Serial references ``first_reference..last_reference`` under one company prefix."""

    company_prefix: str
    extension_digit: int
    first_reference: int
    last_reference: int

    def __post_init__(self) -> None:
        try:
            make_sscc(self.extension_digit, self.company_prefix, self.first_reference)
            make_sscc(self.extension_digit, self.company_prefix, self.last_reference)
        except CheckDigitError as exc:
            raise SsccRangeError(f"SSCC range: {exc}") from None
        if self.first_reference > self.last_reference:
            raise SsccRangeError(
                f"SSCC range: first_reference {self.first_reference} is above "
                f"last_reference {self.last_reference}"
            )

    @property
    def capacity(self) -> int:
        return self.last_reference - self.first_reference + 1

    def sscc(self, reference: int) -> str:
        """The SSCC of one serial reference of the range."""
        if not self.first_reference <= reference <= self.last_reference:
            raise SsccRangeError(
                f"serial reference {reference} is outside {self.first_reference}.."
                f"{self.last_reference}"
            )
        return make_sscc(self.extension_digit, self.company_prefix, reference)

    def reference_of(self, sscc: str) -> int:
        """The serial reference of an SSCC of this range (refuses any other SSCC)."""
        try:
            validate_sscc(sscc)
        except CheckDigitError as exc:
            raise SsccRangeError(str(exc)) from None
        cp = self.company_prefix
        if sscc[0] != str(self.extension_digit) or sscc[1 : 1 + len(cp)] != cp:
            raise SsccRangeError(
                f"SSCC {sscc}: not extension {self.extension_digit} of company prefix {cp}"
            )
        reference = int(sscc[1 + len(cp) : 17])
        self.sscc(reference)  # in the range?
        return reference

    def next_block(self, highest_issued: str | None, count: int) -> list[str]:
        """The ``count`` SSCCs after ``highest_issued`` (None: from the start of the range)."""
        start = (
            self.first_reference
            if highest_issued is None
            else self.reference_of(highest_issued) + 1
        )
        if start + count - 1 > self.last_reference:
            left = max(0, self.last_reference - start + 1)
            raise SsccRangeExhausted(
                f"SSCC range {self.sscc(self.first_reference)}..{self.sscc(self.last_reference)}"
                f" has {left} references left, {count} wanted"
            )
        return [self.sscc(r) for r in range(start, start + count)]
