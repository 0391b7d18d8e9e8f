"""Batches with a market code profile, ``serials generate`` and ``serials import`` under its rules,
through the real ``linectl`` command on a real ledger file."""

from __future__ import annotations

import json
from pathlib import Path

from linectl.ledger import Ledger
from standards.gs1.serial_space import sequence_finding
from tests.cli.test_cli_session import GTIN, anna_password, enrolled, ledger_file, linectl

__all__ = ["anna_password", "enrolled", "ledger_file"]  # fixtures used here
PZN = "12345678"


def new_batch(ledger: Path, batch: str, *profile: str) -> str:
    out = linectl(ledger, "batch", "create", batch, "--gtin", GTIN, "--lot", "L1", "--expiry",
                  "281130", "--quantity", "1000", "--market", "DE", *profile)  # fmt: skip
    return out.stdout


def serials_of(ledger: Path, batch: str) -> list[str]:
    with Ledger(ledger) as book:
        return list(book.list_serials(batch))


def test_a_german_batch_records_its_profile_and_pzn_and_refuses_without_the_pzn(
    ledger_file: Path,
) -> None:
    out = new_batch(ledger_file, "B-DE", "--profile", "de-pzn", "--nhrn", f"710={PZN}")
    assert f"code profile de-pzn (710) {PZN}" in out
    with Ledger(ledger_file) as book:
        code = book.markings.code_of("B-DE")
    assert (code.code_profile, dict(code.code_fields)) == ("de-pzn", {"710": PZN})
    missing = linectl(ledger_file, "batch", "create", "B-DE2", "--gtin", GTIN, "--lot", "L1",
                      "--expiry", "281130", "--quantity", "10", "--market", "DE", "--profile",
                      "de-pzn", check=False)  # fmt: skip
    assert missing.returncode == 2
    assert "--profile de-pzn: needs AI (710) national number (PZN)" in missing.stderr
    unknown = linectl(ledger_file, "batch", "create", "B-X", "--gtin", GTIN, "--lot", "L1",
                      "--expiry", "281130", "--quantity", "10", "--market", "DE", "--profile",
                      "xx-none", check=False)  # fmt: skip
    assert unknown.returncode == 2 and "--profile xx-none: not defined" in unknown.stderr
    bare = linectl(ledger_file, "batch", "create", "B-Y", "--gtin", GTIN, "--lot", "L1",
                   "--expiry", "281130", "--quantity", "10", "--market", "DE", "--profile",
                   "de-pzn", "--nhrn", PZN, check=False)  # fmt: skip
    assert bare.returncode == 2 and "expected AI=VALUE, e.g. 710=12345678" in bare.stderr


def test_generate_reports_the_guessing_probability_and_meets_the_eu_bound(
    ledger_file: Path,
) -> None:
    new_batch(ledger_file, "B-DE", "--profile", "de-pzn", "--nhrn", f"710={PZN}")
    out = linectl(ledger_file, "serials", "generate", "--batch", "B-DE", "--count", "2000")
    assert "generated 2,000 serials for batch B-DE" in out.stdout
    assert "probability of guessing a valid serial 1 in 500,000,000" in out.stdout
    assert (
        "EU bound lower than 1 in 10,000: met; required by the batch's code profile" in out.stdout
    )
    serials = serials_of(ledger_file, "B-DE")
    assert len(serials) == len(set(serials)) == 2000
    assert all(len(s) == 12 and s.isdigit() for s in serials)
    assert sequence_finding(serials) is None  # the randomisation test import applies, passed


def test_generate_refuses_settings_above_the_eu_bound_saying_what_would_meet_it(
    ledger_file: Path,
) -> None:
    new_batch(ledger_file, "B-DE", "--profile", "de-pzn", "--nhrn", f"710={PZN}")
    refused = linectl(ledger_file, "serials", "generate", "--batch", "B-DE", "--count", "200",
                      "--length", "6", check=False)  # fmt: skip
    assert refused.returncode == 2
    assert "probability 1 in 5,000, not lower than the 1 in 10,000" in refused.stderr
    assert "Delegated Regulation (EU) 2016/161, Art. 4" in refused.stderr
    assert "--length 7" in refused.stderr
    assert serials_of(ledger_file, "B-DE") == []
    ok = linectl(ledger_file, "serials", "generate", "--batch", "B-DE", "--count", "200",
                 "--length", "7", "--json")  # fmt: skip
    report = json.loads(ok.stdout)
    assert report["guess_one_in"] == 50_000 and report["eu_bound_met"] is True


def test_generate_never_repeats_a_serial_of_the_gtin_across_batches(ledger_file: Path) -> None:
    # A space of 1,000 serials: the second batch's draws hit the first's 400 often, and must
    # be drawn again. A US batch: the EU bound does not apply, so the small space is allowed.
    new_batch(ledger_file, "B-US1", "--profile", "us-dscsa")
    new_batch(ledger_file, "B-US2", "--profile", "us-dscsa")
    first = linectl(ledger_file, "serials", "generate", "--batch", "B-US1", "--count", "400",
                    "--length", "3", "--json")  # fmt: skip
    assert json.loads(first.stdout)["eu_bound_applies"] is False
    linectl(
        ledger_file, "serials", "generate", "--batch", "B-US2", "--count", "90", "--length", "3"
    )
    one, two = serials_of(ledger_file, "B-US1"), serials_of(ledger_file, "B-US2")
    assert (len(set(one)), len(set(two))) == (400, 90)
    assert not set(one) & set(two)


def test_import_refuses_a_sequential_file_for_an_eu_profile_saying_why(
    ledger_file: Path, tmp_path: Path
) -> None:
    new_batch(ledger_file, "B-DE", "--profile", "de-pzn", "--nhrn", f"710={PZN}")
    new_batch(ledger_file, "B-US", "--profile", "us-dscsa")
    sequential = tmp_path / "serials.txt"
    sequential.write_text("".join(f"SN{n:08d}\n" for n in range(1, 101)))
    refused = linectl(ledger_file, "serials", "import", str(sequential), "--batch", "B-DE",
                      check=False)  # fmt: skip
    assert refused.returncode == 2
    assert "requires randomised serials (Delegated Regulation (EU) 2016/161, Art. 4)" in (
        refused.stderr
    )
    assert "counter: 99 of 99 neighbouring serials (in file order) differ by exactly 1" in (
        refused.stderr
    )
    assert serials_of(ledger_file, "B-DE") == []
    linectl(ledger_file, "serials", "import", str(sequential), "--batch", "B-US")
    assert len(serials_of(ledger_file, "B-US")) == 100


def test_import_refuses_serials_another_batch_of_the_gtin_has(
    ledger_file: Path, tmp_path: Path
) -> None:
    new_batch(ledger_file, "B-1")
    new_batch(ledger_file, "B-2")
    linectl(ledger_file, "serials", "generate", "--batch", "B-1", "--count", "50")
    reused = tmp_path / "reused.txt"
    reused.write_text("\n".join(serials_of(ledger_file, "B-1")[10:12]) + "\n")
    refused = linectl(ledger_file, "serials", "import", str(reused), "--batch", "B-2",
                      check=False)  # fmt: skip
    assert refused.returncode == 2
    assert f"already in the ledger for GTIN {GTIN} (batch B-1" in refused.stderr
    assert serials_of(ledger_file, "B-2") == []
