"""GS1 YYMMDD dates (AI 17 expiry and the other date AIs): century rule and calendar checks."""

from __future__ import annotations

import calendar
import datetime as dt

from standards.gs1.errors import DateError, describe


def full_year(yy: int, today: dt.date | None = None) -> int:
    """The four-digit year of a two-digit GS1 year, by the GS1 sliding window.

    GS1 General Specifications, section 7.12 (Determination of century in dates): with
    D = YY minus the last two digits of the current year, D in 51..99 means the previous
    century, D in -99..-50 the next century, anything else the current century. The result
    is therefore always within -49..+50 years of the current year.
    """
    if not 0 <= yy <= 99:
        raise ValueError(f"two-digit year {yy}: must be 0-99")
    year = (today or dt.date.today()).year
    century = year - year % 100
    difference = yy - year % 100
    if 51 <= difference <= 99:
        century -= 100
    elif -99 <= difference <= -50:
        century += 100
    return century + yy


def parse_yymmdd(
    value: str,
    *,
    ai: str = "17",
    name: str = "expiry",
    allow_day_zero: bool = False,
    today: dt.date | None = None,
    offset: int | None = None,
) -> dt.date:
    """The calendar date of a GS1 YYMMDD field, or a DateError naming the AI and value.

    Month must be 01-12 and the day must exist in that month (leap years included). Day 00
    ("no day given", allowed by the GS1 ``yymmd0`` linter) is refused unless
    ``allow_day_zero``; then it means the last day of the month.
    """
    head = describe(ai, name, value, offset)
    if len(value) != 6 or not value.isascii() or not value.isdigit():
        raise DateError(f"{head}: must be 6 digits YYMMDD", ai=ai, value=value, offset=offset)
    year = full_year(int(value[:2]), today)
    month, day = int(value[2:4]), int(value[4:6])
    if not 1 <= month <= 12:
        raise DateError(
            f"{head}: month {month:02d} is not 01-12", ai=ai, value=value, offset=offset
        )
    last_day = calendar.monthrange(year, month)[1]
    if day == 0:
        if not allow_day_zero:
            raise DateError(
                f"{head}: day 00 (no day given) is not accepted here",
                ai=ai,
                value=value,
                offset=offset,
            )
        return dt.date(year, month, last_day)
    if day > last_day:
        raise DateError(
            f"{head}: day {day:02d} does not exist in {year:04d}-{month:02d}",
            ai=ai,
            value=value,
            offset=offset,
        )
    return dt.date(year, month, day)


def format_yymmdd(date: dt.date, today: dt.date | None = None) -> str:
    """``date`` as YYMMDD; refused when the century rule would read it back as another year."""
    text = date.strftime("%y%m%d")
    if full_year(date.year % 100, today) != date.year:
        raise DateError(
            f"date {date.isoformat()}: outside the GS1 two-digit-year window "
            f"(-49..+50 years from today), YYMMDD {text!r} would mean another century",
            value=text,
        )
    return text
