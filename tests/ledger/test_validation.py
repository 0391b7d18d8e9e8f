"""Input checks: GS1 CSET 82 for serials and lots, YYMMDD expiry dates."""

from __future__ import annotations

import pytest

from linectl.ledger import ValidationError
from linectl.ledger.validation import check_expiry, check_serial, cset82_problem
from standards.gs1.cset82 import CSET82


def test_the_ledger_check_agrees_with_the_character_table() -> None:
    for char in map(chr, range(256)):
        assert (cset82_problem(f"A{char}", 20) is None) == (char in CSET82), repr(char)


def test_a_serial_that_is_not_a_string_is_named() -> None:
    with pytest.raises(ValidationError, match="index 4 \\(line 5\\)"):
        check_serial(12345, index=4)


@pytest.mark.parametrize("good", ["270100", "280229", "991231", "000131"])
def test_valid_expiry_dates_pass(good: str) -> None:
    assert check_expiry(good) == good


@pytest.mark.parametrize("bad", ["270229", "270431", "270013", "2701O1", "27010"])
def test_impossible_expiry_dates_are_refused(bad: str) -> None:
    with pytest.raises(ValidationError, match="expiry"):
        check_expiry(bad)
