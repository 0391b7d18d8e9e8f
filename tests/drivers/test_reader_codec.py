"""Shared reader-codec pieces: ISO/IEC 15415 grade letters, AIM identifiers, read text."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from drivers.reader_codec import (
    CodeRead,
    format_read_text,
    grade_letter,
    parse_read_text,
    split_symbology_id,
)


@pytest.mark.parametrize(
    ("raw", "letter"),
    [
        ("A", "A"),
        ("b", "B"),
        (" C ", "C"),
        ("F", "F"),
        ("4", "A"),
        ("4.0", "A"),
        ("3.5", "A"),
        ("3.4", "B"),
        ("2.5", "B"),
        ("2.4", "C"),
        ("1.5", "C"),
        ("0.5", "D"),
        ("0.4", "F"),
        ("0", "F"),
    ],
)
def test_reported_grades_become_iso_15415_letters(raw: str, letter: str) -> None:
    assert grade_letter(raw) == letter


@pytest.mark.parametrize("raw", ["E", "5", "4.5", "AA", "", "-1", "grade"])
def test_anything_else_is_not_a_grade(raw: str) -> None:
    assert grade_letter(raw) is None


def test_symbology_identifier_is_split_off_and_named() -> None:
    assert split_symbology_id("]d2010950") == ("]d2", "010950")
    assert split_symbology_id("010950") == (None, "010950")
    assert CodeRead("x", "]d2").to_result().symbology == "gs1-datamatrix"
    assert CodeRead("x", "]Q3").to_result().symbology == "gs1-qr"
    assert CodeRead("x", "]z9").to_result().symbology is None


def test_a_trailing_field_that_is_no_grade_stays_data() -> None:
    read = parse_read_text("]d2010950,XY", separator=",", no_read="NoRead")
    assert read == CodeRead("010950,XY", "]d2")


def test_no_read_string_alone_or_with_appended_fields_is_a_no_read() -> None:
    assert parse_read_text("NoRead", separator=",", no_read="NoRead") == CodeRead(None)
    assert parse_read_text("NoRead,F", separator=",", no_read="NoRead") == CodeRead(None)
    assert parse_read_text("NoReadX", separator=",", no_read="NoRead").text == "NoReadX"


def test_result_carries_seq_and_the_raw_fields() -> None:
    result = CodeRead("0109", "]d2", "B", "2.9").to_result(41)
    assert (result.text, result.grade, result.seq) == ("0109", "B", 41)
    assert result.detail == {"symbology_id": "]d2", "grade_raw": "2.9"}


GS1_CHARS = st.sampled_from(
    list("!\"%&'()*+,-./0123456789:;<=>?ABCDEFGHIJKLMNOPQRSTUVWXYZ_abcdefghijklmnopqrstuvwxyz\x1d")
)


@given(
    # data that is the no-read string itself is a no-read (no GS1 code reads "NoRead")
    st.text(GS1_CHARS, min_size=1, max_size=60).filter(lambda d: d != "NoRead"),
    st.sampled_from([None, "]d2", "]d1"]),
    st.sampled_from([None, "A", "B", "C", "D", "F"]),
    st.sampled_from([",", ":"]),
)
def test_what_a_reader_formats_the_host_parses_back(
    data: str, symbology_id: str | None, grade: str | None, separator: str
) -> None:
    # any data in the GS1 character set, even holding the separator, survives when graded
    sent = CodeRead(data, symbology_id, grade)
    text = format_read_text(sent, separator=separator, no_read="NoRead")
    got = parse_read_text(text, separator=separator, no_read="NoRead")
    if grade is not None:
        assert (got.text, got.symbology_id, got.grade) == (data, symbology_id, grade)
    elif got.grade is None:  # ungraded data ending in ",A" cannot be told from a grade
        assert (got.text, got.symbology_id) == (data, symbology_id)
