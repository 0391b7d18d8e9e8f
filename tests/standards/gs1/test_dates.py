"""GS1 YYMMDD dates: the century sliding window, month and day checks, day 00."""

from __future__ import annotations

import datetime as dt

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from standards.gs1.dates import format_yymmdd, full_year, parse_yymmdd
from standards.gs1.errors import DateError

TODAY = dt.date(2026, 11, 21)


@pytest.mark.parametrize(
    ("yy", "year"), [(26, 2026), (76, 2076), (77, 1977), (0, 2000), (99, 1999), (50, 2050)]
)
def test_two_digit_years_fall_in_the_window_around_2026(yy: int, year: int) -> None:
    assert full_year(yy, TODAY) == year


def test_the_window_moves_into_the_next_century() -> None:
    assert full_year(0, dt.date(2051, 1, 1)) == 2100
    assert full_year(1, dt.date(2051, 1, 1)) == 2101
    assert full_year(2, dt.date(2051, 1, 1)) == 2002
    assert full_year(98, dt.date(2001, 6, 1)) == 1998
    assert full_year(51, dt.date(2001, 6, 1)) == 2051


@settings(derandomize=True)
@given(st.integers(0, 99), st.dates(dt.date(1900, 1, 1), dt.date(2300, 12, 31)))
def test_full_year_is_within_minus_49_and_plus_50_years(yy: int, today: dt.date) -> None:
    year = full_year(yy, today)
    assert year % 100 == yy
    assert -49 <= year - today.year <= 50


def test_the_published_example_message() -> None:
    with pytest.raises(DateError) as caught:
        parse_yymmdd("250230", today=TODAY)
    assert str(caught.value) == "AI (17) expiry '250230': day 30 does not exist in 2025-02"
    assert (caught.value.ai, caught.value.value) == ("17", "250230")


@pytest.mark.parametrize(
    ("value", "date"),
    [
        ("240229", dt.date(2024, 2, 29)),
        ("000229", dt.date(2000, 2, 29)),
        ("261231", dt.date(2026, 12, 31)),
    ],
)
def test_leap_days_exist_in_leap_years(value: str, date: dt.date) -> None:
    assert parse_yymmdd(value, today=TODAY) == date


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("250229", "day 29 does not exist in 2025-02"),
        ("260431", "day 31 does not exist in 2026-04"),
        ("261301", "month 13 is not 01-12"),
        ("260001", "month 00 is not 01-12"),
        ("2612", "must be 6 digits"),
        ("26123X", "must be 6 digits"),
        ("２６１２３１", "must be 6 digits"),
    ],
)
def test_impossible_dates_are_refused(value: str, message: str) -> None:
    with pytest.raises(DateError, match=message):
        parse_yymmdd(value, today=TODAY)


def test_day_00_is_refused_by_default() -> None:
    with pytest.raises(DateError, match=r"AI \(17\) expiry '260200': day 00"):
        parse_yymmdd("260200", today=TODAY)


@pytest.mark.parametrize(
    ("value", "date"),
    [
        ("240200", dt.date(2024, 2, 29)),
        ("250200", dt.date(2025, 2, 28)),
        ("261100", dt.date(2026, 11, 30)),
    ],
)
def test_day_00_when_allowed_is_the_last_day_of_the_month(value: str, date: dt.date) -> None:
    assert parse_yymmdd(value, allow_day_zero=True, today=TODAY) == date


@settings(derandomize=True)
@given(st.dates(dt.date(1977, 1, 1), dt.date(2076, 12, 31)))
def test_format_then_parse_gives_the_same_date_inside_the_window(date: dt.date) -> None:
    assert parse_yymmdd(format_yymmdd(date, TODAY), today=TODAY) == date


def test_a_date_outside_the_window_cannot_be_written() -> None:
    with pytest.raises(DateError, match="2077-01-01: outside the GS1 two-digit-year window"):
        format_yymmdd(dt.date(2077, 1, 1), TODAY)
