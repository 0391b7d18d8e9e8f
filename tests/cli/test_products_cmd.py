"""``linectl products import`` with the real command on a real ledger: a supervisor imports the
product master data, a file with bad rows is refused naming each, an operator may not import."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from tests.people import People

REPO = Path(__file__).resolve().parents[2]
GTIN = "09506000134352"
BAD_GTIN = "09506000134353"


def linectl(ledger: Path, token: Path, *args: str) -> subprocess.CompletedProcess[str]:
    cmd = [sys.executable, "-m", "linectl.cli", "--ledger", str(ledger), "--token-file", str(token)]
    return subprocess.run([*cmd, *args], capture_output=True, text=True, timeout=120, cwd=REPO)


def test_a_supervisor_imports_products_and_a_bad_file_is_refused_naming_rows_and_fields(
    tmp_path: Path,
) -> None:
    ledger = tmp_path / "line.db"
    people = People(ledger)
    people.add("sv.sam", "supervisor", "Sam Supervisor")
    people.add("op.olga", "operator", "Olga Operator")
    sam, olga = tmp_path / "sam.token", tmp_path / "olga.token"
    people.token("sv.sam", sam)
    people.token("op.olga", olga)
    good = tmp_path / "products.csv"
    good.write_text(
        "gtin,name,market,code_profile,label_layout\n"
        f"{GTIN},Paracetamol 500 mg,DE,eu-fmd,carton-80x40\n",
        encoding="utf-8",
    )
    done = linectl(ledger, sam, "products", "import", str(good))
    assert done.returncode == 0, done.stderr
    assert "1 added, 0 changed, 0 unchanged" in done.stdout
    listed = linectl(ledger, olga, "products", "list")
    assert f"{GTIN}  DE  eu-fmd" in listed.stdout

    bad = tmp_path / "more.csv"
    bad.write_text(
        "gtin;name;market;code_profile;label_layout\n"
        f"{BAD_GTIN};Wrong digit;DE;eu-fmd;carton\n"
        f"{GTIN};No market;;eu-fmd;carton\n",
        encoding="utf-8",
    )
    refused = linectl(ledger, sam, "products", "import", str(bad))
    assert refused.returncode == 2
    assert f"row 1 (line 2): gtin '{BAD_GTIN}'" in refused.stderr
    assert "row 2 (line 3): market '': is required" in refused.stderr
    assert linectl(ledger, olga, "products", "list", "--json").stdout.count('"gtin"') == 1

    denied = linectl(ledger, olga, "products", "import", str(good))
    assert denied.returncode == 2 and "products import" in denied.stderr
