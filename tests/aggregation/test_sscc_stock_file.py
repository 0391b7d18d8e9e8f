"""``[aggregation] sscc_stock``: a stock file (linectl before schema v4, or ``make demo``) is
imported into the ledger once, and the ledger is the stock from then on."""

from __future__ import annotations

from pathlib import Path

import pytest

from linectl.aggregation import SsccStock, SsccUnavailable
from linectl.ledger import ContainerLevel, Ledger
from tests.aggregation.conftest import CASE_RANGE

S = [CASE_RANGE.sscc(n) for n in range(1, 6)]


def stock_file(path: Path, ssccs: list[str]) -> Path:
    path.write_text("".join(f"{s}\n" for s in ssccs), encoding="ascii")
    return path


def stock_audit_rows(ledger: Ledger) -> list[str]:
    return [e.reason for e in ledger.audit_entries() if e.command == "sscc_stock.add"]


def test_a_stock_file_is_imported_into_the_ledger_once(tmp_path: Path) -> None:
    path = stock_file(tmp_path / "ssccs.txt", [S[0], "", S[1], S[2]])
    with Ledger(tmp_path / "ledger.db") as ledger:
        stock = SsccStock(ledger, path)
        assert ledger.sscc_stock.all() == S[:3]
        assert stock_audit_rows(ledger) == [f"imported from {path}"]
        ledger.containers.create(stock.next_sscc(), ContainerLevel.CASE, actor="line")
        again = SsccStock(ledger, path)  # a restart with the same file: nothing new
        assert ledger.sscc_stock.all() == S[:3]
        assert len(stock_audit_rows(ledger)) == 1
        assert again.next_sscc() == S[1] and again.available() == 2
    assert path.read_text(encoding="ascii") == f"{S[0]}\n\n{S[1]}\n{S[2]}\n"  # only read


def test_ssccs_added_to_the_file_later_are_imported_after_those_in_stock(tmp_path: Path) -> None:
    path = stock_file(tmp_path / "ssccs.txt", S[:2])
    with Ledger(tmp_path / "ledger.db") as ledger:
        stock = SsccStock(ledger, path)
        stock.add([S[4]])  # the pool manager sends one
        stock_file(path, S[:4])
        SsccStock(ledger, path)
        assert ledger.sscc_stock.all() == [S[0], S[1], S[4], S[2], S[3]]


def test_a_bad_line_in_the_stock_file_is_named_and_nothing_is_imported(tmp_path: Path) -> None:
    bad = S[1][:-1] + str((int(S[1][-1]) + 1) % 10)
    path = stock_file(tmp_path / "ssccs.txt", [S[0], bad])
    with Ledger(tmp_path / "ledger.db") as ledger:
        with pytest.raises(ValueError, match=r"ssccs.txt line 2: .*check digit"):
            SsccStock(ledger, path)
        assert ledger.sscc_stock.all() == []


async def test_provisioned_ssccs_are_in_the_ledger_when_add_ssccs_returns(tmp_path: Path) -> None:
    with Ledger(tmp_path / "ledger.db") as ledger:
        stock = SsccStock(ledger, tmp_path / "absent.txt")
        await stock.add_ssccs(S[:2])
    with Ledger(tmp_path / "ledger.db") as reopened:  # a new connection sees them committed
        assert reopened.sscc_stock.all() == S[:2]
        assert SsccStock(reopened).next_sscc() == S[0]


def test_an_empty_stock_says_the_pool_manager_must_send_more(tmp_path: Path) -> None:
    with (
        Ledger(tmp_path / "ledger.db") as ledger,
        pytest.raises(SsccUnavailable, match="pool manager"),
    ):
        SsccStock(ledger).next_sscc()
