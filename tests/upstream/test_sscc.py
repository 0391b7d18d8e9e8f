"""SSCCs for cases and pallets from a configured serial-reference range."""

from __future__ import annotations

from collections.abc import Sequence

import pytest

from linectl.config import SsccRange, SsccRangeError, SsccRangeExhausted, SsccSection
from linectl.upstream.sscc import SsccProvisioner
from standards.gs1.checkdigit import has_valid_check_digit

RANGE = SsccRange("4012345", 3, 1_000, 1_009)


class Ledger:
    """SsccSink that also answers the highest SSCC it holds."""

    def __init__(self) -> None:
        self.ssccs: list[str] = []

    async def add_ssccs(self, ssccs: Sequence[str]) -> None:
        self.ssccs.extend(ssccs)

    async def highest(self) -> str | None:
        return max(self.ssccs) if self.ssccs else None


def test_range_ssccs_carry_extension_prefix_reference_and_check_digit() -> None:
    sscc = RANGE.sscc(1_000)
    assert sscc == "34012345000001000"[:17] + sscc[17]
    assert len(sscc) == 18 and has_valid_check_digit(sscc)
    assert RANGE.reference_of(sscc) == 1_000
    assert RANGE.capacity == 10


@pytest.mark.parametrize(
    ("sscc", "message"),
    [
        ("340123450000010001", "check digit"),
        ("040123450000010005", "not extension 3"),
        ("340123450000020006", "outside 1000..1009"),
    ],
)
def test_an_sscc_from_elsewhere_is_not_of_the_range(sscc: str, message: str) -> None:
    if message == "check digit":
        sscc = sscc[:17] + str((int(sscc[17]) + 1) % 10)
    else:
        from standards.gs1.checkdigit import check_digit

        sscc = sscc[:17] + check_digit(sscc[:17])
    with pytest.raises(SsccRangeError, match=message):
        RANGE.reference_of(sscc)


def test_a_range_that_does_not_fit_the_company_prefix_is_refused() -> None:
    with pytest.raises(SsccRangeError, match="must fit in 9 digits"):
        SsccRange("4012345", 3, 1, 10**9)
    with pytest.raises(SsccRangeError, match="above"):
        SsccRange("4012345", 3, 20, 10)
    with pytest.raises(ValueError, match="needs company_prefix"):
        SsccSection(source="range", first_reference=1, last_reference=5)


async def test_refills_continue_after_the_highest_sscc_the_ledger_holds() -> None:
    ledger = Ledger()
    provisioner = SsccProvisioner(ledger, sscc_range=RANGE, highest_issued=ledger.highest)
    assert await provisioner.refill(4) == 4
    restarted = SsccProvisioner(ledger, sscc_range=RANGE, highest_issued=ledger.highest)
    assert await restarted.refill(6) == 6
    assert [RANGE.reference_of(s) for s in ledger.ssccs] == list(range(1_000, 1_010))
    with pytest.raises(SsccRangeExhausted, match="0 references left, 1 wanted"):
        await restarted.refill(1)
