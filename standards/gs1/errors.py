"""Typed errors for GS1 data: every one names the AI, the value and, for scans, the offset."""

from __future__ import annotations


class Gs1Error(ValueError):
    """Bad GS1 data; ``ai``, ``value`` and ``offset`` (0-based, in the scanned text) when known."""

    def __init__(
        self,
        message: str,
        *,
        ai: str | None = None,
        value: str | None = None,
        offset: int | None = None,
    ) -> None:
        super().__init__(message)
        self.ai = ai
        self.value = value
        self.offset = offset


class CharsetError(Gs1Error):
    """A character outside the AI's character set (digits, or CSET 82)."""

    def __init__(
        self,
        message: str,
        *,
        char: str,
        index: int,
        ai: str | None = None,
        value: str | None = None,
        offset: int | None = None,
    ) -> None:
        super().__init__(message, ai=ai, value=value, offset=offset)
        self.char = char
        self.index = index


class LengthError(Gs1Error):
    """A field too long, too short, empty or cut off by a separator or the end of the data."""


class DateError(Gs1Error):
    """A YYMMDD date that does not exist, or a day 00 where it is not accepted."""


class UnknownAiError(Gs1Error):
    """Digits that are not a GS1 Application Identifier, or an AI linectl cannot write."""


class ScanSyntaxError(Gs1Error):
    """Scanned data whose structure is wrong: symbology identifier, separators, HRI, URI."""


class MissingAiError(Gs1Error):
    """A scan that lacks an AI the caller needs (e.g. no serial for a product code)."""


def describe(ai: str, name: str, value: str, offset: int | None = None) -> str:
    """The common start of every field error: "AI (17) expiry '250230'" plus the offset."""
    where = f" at offset {offset}" if offset is not None else ""
    return f"AI ({ai}) {name} {value!r}{where}"
