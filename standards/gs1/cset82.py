"""GS1 AI encodable character set 82 (CSET 82), the alphabet of lots, serials and other X fields.

GS1 General Specifications, figure 7.11-1: the 82 printable ASCII characters
``! " % & ' ( ) * + , - . / 0-9 : ; < = > ? A-Z _ a-z``. Not in it: space, ``# $ @ [ \\ ] ^ `
{ | } ~``, control characters (GS among them) and everything beyond ASCII.
"""

from __future__ import annotations

from standards.gs1.errors import CharsetError, LengthError, describe

CSET82: str = "!\"%&'()*+,-./0123456789:;<=>?ABCDEFGHIJKLMNOPQRSTUVWXYZ_abcdefghijklmnopqrstuvwxyz"
"""The 82 characters, in ASCII order."""

_CSET82 = frozenset(CSET82)


def first_outside_cset82(value: str) -> int | None:
    """Index of the first character of ``value`` that is not in CSET 82, or None."""
    for index, char in enumerate(value):
        if char not in _CSET82:
            return index
    return None


def char_label(char: str) -> str:
    """A character as an error message shows it: quoted, with its code point."""
    return f"{char!r} (U+{ord(char):04X})"


def check_cset82(
    value: str,
    *,
    ai: str,
    name: str,
    max_length: int,
    offset: int | None = None,
) -> str:
    """Return ``value`` when it is 1..``max_length`` CSET 82 characters, else raise.

    ``offset`` is where the value starts in scanned data; errors then also give the
    offending character's offset in that data.
    """
    head = describe(ai, name, value, offset)
    if not value:
        raise LengthError(
            f"{head}: empty, needs 1 to {max_length} characters", ai=ai, value=value, offset=offset
        )
    index = first_outside_cset82(value)
    if index is not None:
        char = value[index]
        where = f" (offset {offset + index})" if offset is not None else ""
        raise CharsetError(
            f"{head}: character {char_label(char)} at index {index}{where} is not in CSET 82",
            char=char,
            index=index,
            ai=ai,
            value=value,
            offset=None if offset is None else offset + index,
        )
    if len(value) > max_length:
        raise LengthError(
            f"{head}: {len(value)} characters, at most {max_length} allowed",
            ai=ai,
            value=value,
            offset=offset,
        )
    return value
