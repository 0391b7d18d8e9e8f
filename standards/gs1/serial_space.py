"""How guessable serial numbers are: their space, the guessing probability, and a sequence test.

EU Delegated Regulation 2016/161, Article 4(b): the probability that a serial number can be
guessed must be negligible and in any case lower than one in ten thousand. linectl measures it
as the number of serials issued for the GTIN divided by the number of serials the alphabet and
length allow: a counterfeiter who draws one serial of that form at random hits an issued one
with exactly that probability. Serials must also be randomised (Article 4(b)), which
:func:`sequence_finding` tests on a file of serials (see its docstring for the test).
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from fractions import Fraction
from itertools import pairwise

from standards.gs1.cset82 import CSET82

ALPHABETS: dict[str, str] = {"numeric": "0123456789", "cset82": CSET82}
"""The alphabets ``serials generate`` draws from: digits, or all of GS1 CSET 82."""

EU_MAX_GUESS_PROBABILITY = Fraction(1, 10_000)
"""Delegated Regulation (EU) 2016/161, Article 4(b): lower than one in ten thousand."""

RUN_SHARE = Fraction(1, 2)
"""A file is sequential when at least this share of its neighbour steps is one repeated step."""

MIN_STEPS = 3
"""Fewer neighbour steps than this (in one group) say nothing about a sequence."""


def space_size(alphabet: str, length: int) -> int:
    """How many serials of ``length`` characters of ``alphabet`` exist."""
    size: int = len(ALPHABETS[alphabet]) ** length
    return size


def guess_probability(issued: int, alphabet: str, length: int) -> Fraction:
    """Probability that one serial drawn at random from the space is an issued one."""
    return Fraction(issued, space_size(alphabet, length))


def meets_eu_bound(probability: Fraction) -> bool:
    """Article 4(b): the guessing probability must be lower than one in ten thousand."""
    return probability < EU_MAX_GUESS_PROBABILITY


def one_in(probability: Fraction) -> str:
    """``1 in 12,345,678`` (rounded down), the way the report shows a probability."""
    if probability <= 0:
        return "0"
    return f"1 in {int(1 / probability):,}"


@dataclass(frozen=True)
class SequenceFinding:
    """Why a list of serials is not random: the rule it broke and an example."""

    rule: str
    detail: str

    def __str__(self) -> str:
        return f"{self.rule}: {self.detail}"


def _split(serial: str) -> tuple[str, int, int] | None:
    """(prefix, trailing number, digits in it) of a serial that ends in digits, else None."""
    end = len(serial)
    start = end
    while start > 0 and serial[start - 1].isdigit():
        start -= 1
    if start == end:
        return None
    return serial[:start], int(serial[start:]), end - start


def sequence_finding(serials: Sequence[str]) -> SequenceFinding | None:
    """None when ``serials`` pass the randomisation test, else what gave them away.

    The test: each serial is read as a prefix and the number its trailing digits form (a
    numeric serial is all number; ``E0000041`` is ``E`` and 41). Serials with the same prefix
    and digit count form a group, and in each group of 4 or more:

    1. counter: in file order, at least half of the steps between neighbours are the same step
       (``...41, ...42, ...43`` or ``...100, ...107, ...114``);
    2. shuffled counter: sorted by number, at least half of the steps are the same step;
    3. dense block: the group fills its own range so densely that guessing a number inside it
       succeeds with a probability of 1 in 10,000 or more (Article 4(b)).

    Random serials of a large space pass all three: their steps are almost all different and
    they spread thinly over their range.
    """
    groups: dict[tuple[str, int], list[tuple[int, int]]] = defaultdict(list)
    for line, serial in enumerate(serials, start=1):
        parts = _split(serial)
        if parts is not None:
            prefix, number, digits = parts
            groups[(prefix, digits)].append((number, line))
    for members in groups.values():
        if len(members) <= MIN_STEPS:
            continue
        for rule, ordered in (("counter", members), ("shuffled counter", sorted(members))):
            finding = _repeated_step(rule, ordered, serials)
            if finding is not None:
                return finding
        numbers = sorted(number for number, _ in members)
        span = numbers[-1] - numbers[0] + 1
        density = Fraction(len(numbers), span)
        if density >= EU_MAX_GUESS_PROBABILITY:
            low = serials[min(members)[1] - 1]
            high = serials[max(members)[1] - 1]
            return SequenceFinding(
                "dense block",
                f"{len(numbers):,} serials lie between {low!r} and {high!r}, a range of "
                f"{span:,}: a guess inside it is right with probability {one_in(density)}, "
                "not lower than 1 in 10,000",
            )
    return None


def _repeated_step(
    rule: str, ordered: Sequence[tuple[int, int]], serials: Sequence[str]
) -> SequenceFinding | None:
    steps = Counter(b[0] - a[0] for a, b in pairwise(ordered))
    total = sum(steps.values())
    step, count = steps.most_common(1)[0]
    if total < MIN_STEPS or Fraction(count, total) < RUN_SHARE:
        return None
    for a, b in pairwise(ordered):
        if b[0] - a[0] == step:
            where = "in file order" if rule == "counter" else "sorted"
            example = f"line {a[1]} {serials[a[1] - 1]!r} -> line {b[1]} {serials[b[1] - 1]!r}"
            return SequenceFinding(
                rule,
                f"{count:,} of {total:,} neighbouring serials ({where}) differ by exactly "
                f"{step:,} (e.g. {example})",
            )
    return None
