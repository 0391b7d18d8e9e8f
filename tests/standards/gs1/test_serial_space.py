"""Guessing probability of serials and the randomisation test for serial files."""

from __future__ import annotations

import random
from fractions import Fraction

import pytest

from standards.gs1.serial_space import (
    EU_MAX_GUESS_PROBABILITY,
    guess_probability,
    meets_eu_bound,
    one_in,
    sequence_finding,
    space_size,
)


def test_the_guessing_probability_is_issued_serials_over_the_space() -> None:
    assert space_size("numeric", 12) == 10**12
    assert space_size("cset82", 3) == 82**3
    assert guess_probability(10**8, "numeric", 12) == Fraction(1, 10_000)
    assert guess_probability(10**8, "numeric", 12) == EU_MAX_GUESS_PROBABILITY
    assert not meets_eu_bound(guess_probability(10**8, "numeric", 12))  # "lower than" 1 in 10,000
    assert meets_eu_bound(guess_probability(10**8 - 1, "numeric", 12))
    assert one_in(Fraction(1, 12_345_678)) == "1 in 12,345,678"


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_random_serials_pass(seed: int) -> None:
    rng = random.Random(seed)
    numeric = [f"{rng.randrange(10**12):012d}" for _ in range(5000)]
    assert sequence_finding(numeric) is None
    mixed = ["".join(rng.choice("ABCDEFGHJKLMNPQRSTUVWXYZ23456789") for _ in range(10))
             for _ in range(5000)]  # fmt: skip
    assert sequence_finding(mixed) is None


def test_a_counter_is_refused_naming_the_step_and_the_lines() -> None:
    finding = sequence_finding([f"E{i:07d}" for i in range(41, 141)])
    assert finding is not None and finding.rule == "counter"
    assert "99 of 99" in finding.detail and "differ by exactly 1" in finding.detail
    assert "line 1 'E0000041' -> line 2 'E0000042'" in finding.detail


def test_a_counter_with_a_large_step_is_refused() -> None:
    finding = sequence_finding([str(10**11 + i * 1_000_003) for i in range(200)])
    assert finding is not None and finding.rule == "counter"
    assert "1,000,003" in finding.detail


def test_a_shuffled_counter_is_refused() -> None:
    serials = [f"{i:012d}" for i in range(5000, 6000)]
    random.Random(4).shuffle(serials)
    finding = sequence_finding(serials)
    assert finding is not None and finding.rule == "shuffled counter"


def test_a_dense_block_of_random_looking_numbers_is_refused() -> None:
    rng = random.Random(5)
    serials = [f"{n:08d}" for n in rng.sample(range(1_000_000), 2_000)]
    finding = sequence_finding(serials)
    assert finding is not None and finding.rule == "dense block"
    assert "not lower than 1 in 10,000" in finding.detail
