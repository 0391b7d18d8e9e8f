"""CSET 82: the alphabet of lots and serials, and the errors naming the bad character."""

from __future__ import annotations

import pytest

from standards.gs1.cset82 import CSET82, check_cset82, first_outside_cset82
from standards.gs1.errors import CharsetError, Gs1Error, LengthError


def test_cset82_is_printable_ascii_without_the_twelve_excluded_characters() -> None:
    # GS1 General Specifications figure 7.11-1: space and # $ @ [ \ ] ^ ` { | } ~ are not in it.
    printable = {chr(code) for code in range(0x21, 0x7F)}
    assert set(CSET82) == printable - set("#$@[\\]^`{|}~")
    assert len(CSET82) == len(set(CSET82)) == 82


def test_every_cset82_character_is_accepted_in_a_lot() -> None:
    for start in range(0, len(CSET82), 20):
        chunk = CSET82[start : start + 20]
        assert check_cset82(chunk, ai="10", name="lot", max_length=20) == chunk


@pytest.mark.parametrize(
    ("value", "char", "index"),
    [("AB C", " ", 2), ("LOTé", "é", 3), ("A\x1dB", "\x1d", 1), ("#1", "#", 0), ("x~", "~", 1)],
)
def test_a_character_outside_cset82_is_named_with_its_index(
    value: str, char: str, index: int
) -> None:
    with pytest.raises(CharsetError) as caught:
        check_cset82(value, ai="10", name="lot", max_length=20)
    error = caught.value
    assert (error.ai, error.value, error.char, error.index) == ("10", value, char, index)
    message = str(error)
    assert message.startswith(f"AI (10) lot {value!r}: character {char!r}")
    assert f"at index {index}" in message
    assert f"U+{ord(char):04X}" in message


def test_an_offset_in_the_scan_is_reported_for_the_bad_character() -> None:
    with pytest.raises(CharsetError, match=r"at offset 30: .* at index 1 \(offset 31\)") as caught:
        check_cset82("A B", ai="21", name="serial", max_length=20, offset=30)
    assert caught.value.offset == 31


def test_a_21_character_serial_is_too_long() -> None:
    with pytest.raises(LengthError, match=r"AI \(21\) serial 'S{21}': 21 characters, at most 20"):
        check_cset82("S" * 21, ai="21", name="serial", max_length=20)


def test_an_empty_lot_is_refused() -> None:
    with pytest.raises(LengthError, match=r"AI \(10\) lot '': empty"):
        check_cset82("", ai="10", name="lot", max_length=20)


def test_first_outside_cset82_finds_the_first_only() -> None:
    assert first_outside_cset82("ok") is None
    assert first_outside_cset82("a b c") == 1


def test_charset_errors_are_gs1_errors_and_value_errors() -> None:
    assert issubclass(CharsetError, Gs1Error)
    assert issubclass(Gs1Error, ValueError)
