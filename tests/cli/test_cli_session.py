"""A scripted engineer's session with the real ``linectl`` command on a real ledger file."""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import subprocess
import sys
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pytest

from linectl.config import IdentitySection, load_config
from linectl.identity.keyfiles import load_audit_key, session_path
from linectl.ledger import Ledger, SerialState, UnitResult, Verdict
from linectl.lifecycle import (
    DECOMMISSION,
    DESTROY,
    SAMPLE,
    EventFactory,
    apply_step,
    record_verdicts,
)
from tests.people import new_password

REPO = Path(__file__).resolve().parents[2]
GTIN = "09506000134352"


def linectl(
    ledger: Path, *args: str, check: bool = True, stdin: str = "", env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """The real command; passwords (if any) go in on stdin, one per line (--password-stdin)."""
    cmd = [sys.executable, "-m", "linectl.cli", "--ledger", str(ledger), "--password-stdin", *args]
    result = subprocess.run(cmd, capture_output=True, text=True, timeout=120, input=stdin, env=env)
    if check and result.returncode != 0:
        raise AssertionError(f"{args} exited {result.returncode}: {result.stderr}")
    return result


@dataclass(frozen=True)
class Enrolled:
    """A ledger set up through the CLI, to be copied: its folder, anna's session and password."""

    folder: Path
    session: Path
    anna_password: str


@pytest.fixture(scope="module")
def enrolled(tmp_path_factory: pytest.TempPathFactory) -> Enrolled:
    """A new ledger, its first admin, and QA supervisor anna logged in: all through the CLI.

    Made once per module (five processes); each test gets a copy of it (:func:`ledger_file`).
    """
    folder = tmp_path_factory.mktemp("enrolled")
    sessions = folder / "sessions"  # not the test's own session folder: this outlives tests
    env = os.environ | {"LINECTL_SESSION_DIR": str(sessions)}
    path = folder / "line.db"
    admin, first, anna = new_password(), new_password(), new_password()
    init = linectl(path, "ledger", "init", "--admin", "admin", stdin=f"{admin}\n{admin}\n", env=env)
    assert "audit trail keyed" in init.stdout and "admin admin created" in init.stdout
    assert (folder / "audit.key").stat().st_mode & 0o777 == 0o600
    linectl(path, "login", "admin", stdin=f"{admin}\n", env=env)
    linectl(
        path,
        "user",
        "add",
        "qa.anna",
        "--role",
        "supervisor",
        "--full-name",
        "Anna Svensson",
        stdin=f"{first}\n{first}\n{admin}\n",
        env=env,
    )
    linectl(path, "logout", env=env)
    out = linectl(path, "login", "qa.anna", stdin=f"{first}\n{anna}\n{anna}\n", env=env)
    assert "logged in as qa.anna (supervisor)" in out.stdout
    session = session_path(IdentitySection(session_dir=sessions), path)
    assert session.is_file()
    return Enrolled(folder, session, anna)


@pytest.fixture
def anna_password(enrolled: Enrolled) -> str:
    return enrolled.anna_password


@pytest.fixture
def ledger_file(tmp_path: Path, enrolled: Enrolled, _session_dir: Path) -> Path:
    """A copy of the enrolled ledger (files, audit key) in the test's folder, with anna's CLI
    session where the CLI looks for it for this copy."""
    for name in ("line.db", "line.db-wal", "audit.key"):
        if (enrolled.folder / name).exists():
            shutil.copy2(enrolled.folder / name, tmp_path / name)
    path = tmp_path / "line.db"
    shutil.copy2(enrolled.session, session_path(IdentitySection(session_dir=_session_dir), path))
    return path


def keyed(ledger: Ledger) -> Ledger:
    """The test's own Ledger, given the audit key (a keyed trail refuses rows without it)."""
    key = load_audit_key(Path(ledger.path).parent / "audit.key")
    assert key is not None
    ledger.identity.attach_audit_key(key)
    return ledger


def test_a_batch_of_ten_thousand_serials_reconciles_exactly(
    ledger_file: Path, tmp_path: Path, anna_password: str
) -> None:
    serial_file = tmp_path / "serials.txt"
    serials = [f"S{n:07d}" for n in range(10_000)]
    serial_file.write_text("\n".join(serials) + "\n")

    linectl(
        ledger_file,
        *("batch", "create", "B-2026-001", "--gtin", GTIN, "--lot", "L2611A"),
        *("--expiry", "281130", "--quantity", "10000", "--market", "DE"),
        *("--material", "carton=CT-991", "--material", "leaflet=LF-12"),
    )
    linectl(ledger_file, "batch", "start", "B-2026-001")
    out = linectl(ledger_file, "serials", "import", str(serial_file), "--batch", "B-2026-001")
    assert "imported 10000 serials" in out.stdout

    # the line's work, through the Python API: print 9,000, judge them, then rework some
    line = load_config(REPO / "config" / "demo-line.toml").line
    with keyed(Ledger(ledger_file)) as ledger:
        factory = EventFactory(line, ledger.get_work_order("B-2026-001"))
        encoded = ledger.take_for_encoding("B-2026-001", 9_000)
        units = [
            UnitResult(s, seq=i, verdict=Verdict.REJECT, reason="no-read")
            if i % 50 == 0
            else UnitResult(s, seq=i, verdict=Verdict.GOOD, grade="A")
            for i, s in enumerate(encoded)
        ]
        record_verdicts(ledger, factory, units, clock=lambda: datetime(2026, 11, 21, tzinfo=UTC))
        good = [u.serial for u in units if u.verdict is Verdict.GOOD]
        apply_step(ledger, factory, DECOMMISSION, good[:7], actor="qa.anna", reason="damaged")
        apply_step(ledger, factory, SAMPLE, good[7:12], actor="qa.anna", reason="samples")
        apply_step(ledger, factory, DESTROY, good[12:15], actor="qa.anna", reason="crushed")
        # commissioning, decommissioning, sampling + its end of life, destroying
        assert ledger.outbox.counts()["pending"] == 5

    out = linectl(
        ledger_file, "batch", "close", "B-2026-001", "--return-unused", stdin=anna_password + "\n"
    )
    assert "1000 unused serials marked returned" in out.stdout
    assert "signed by Anna Svensson (qa.anna)" in out.stdout and "performed" in out.stdout
    report = json.loads(linectl(ledger_file, "report", "B-2026-001", "--json").stdout)
    assert report["balanced"] is True
    counts = {k: report[k] for k in ("received", "commissioned", "scrapped", "sampled")}
    counts |= {k: report[k] for k in ("destroyed", "returned", "unused")}
    assert counts == {
        "received": 10_000,
        "commissioned": 9_000 - 180 - 15,
        "scrapped": 180 + 7,  # rejected labels + decommissioned units
        "sampled": 5,
        "destroyed": 3,
        "returned": 1_000,
        "unused": 0,
    }
    assert "balanced: yes" in linectl(ledger_file, "report", "B-2026-001").stdout

    trace = linectl(ledger_file, "trace", good[8]).stdout
    assert "Sampled" in trace and "sampling" in trace
    assert "verdict good" in trace
    rejected = linectl(ledger_file, "trace", units[0].serial, "--json").stdout
    assert json.loads(rejected)["unit"]["verdict"] == "reject"

    assert "intact" in linectl(ledger_file, "audit", "verify").stdout


def test_audit_verify_detects_a_row_edited_with_the_sqlite3_shell(ledger_file: Path) -> None:
    if shutil.which("sqlite3") is None:
        pytest.skip("the sqlite3 shell is not installed")
    linectl(
        ledger_file,
        *("batch", "create", "B1", "--gtin", GTIN, "--lot", "L1", "--expiry", "281130"),
        *("--quantity", "10", "--market", "DE"),
    )
    linectl(ledger_file, "batch", "start", "B1")
    assert linectl(ledger_file, "audit", "verify").returncode == 0
    with sqlite3.connect(ledger_file) as conn:
        triggers = [
            r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='trigger'")
        ]
    drops = "".join(f"DROP TRIGGER {t};" for t in triggers)
    subprocess.run(
        ["sqlite3", str(ledger_file), drops + "UPDATE audit SET actor = 'mallory' WHERE id = 2;"],
        check=True,
    )
    result = linectl(ledger_file, "audit", "verify", check=False)
    assert result.returncode == 1
    assert "row 2" in result.stdout


def test_bad_input_is_refused_with_field_and_line_and_changes_nothing(
    ledger_file: Path, tmp_path: Path
) -> None:
    bad = linectl(
        ledger_file,
        *("batch", "create", "B1", "--gtin", "09506000134353", "--lot", "LOT é"),
        *("--expiry", "250230", "--quantity", "10", "--market", "DE"),
        check=False,
    )
    assert bad.returncode == 2
    assert "gtin '09506000134353'" in bad.stderr and "check digit" in bad.stderr
    assert "lot 'LOT é'" in bad.stderr and "CSET 82" in bad.stderr
    assert "expiry '250230'" in bad.stderr and "day 30" in bad.stderr
    assert "no batches" in linectl(ledger_file, "batch", "list").stdout

    linectl(
        ledger_file,
        *("batch", "create", "B1", "--gtin", GTIN, "--lot", "L1", "--expiry", "281130"),
        *("--quantity", "10", "--market", "DE"),
    )
    dup = tmp_path / "dup.txt"
    dup.write_text("A1\nA2\nA3\nA2\n")
    result = linectl(ledger_file, "serials", "import", str(dup), "--batch", "B1", check=False)
    assert result.returncode == 2
    assert "line 4" in result.stderr and "'A2'" in result.stderr and "serial" in result.stderr

    long = tmp_path / "long.txt"
    long.write_text("OK1\n" + "X" * 21 + "\n")
    result = linectl(ledger_file, "serials", "import", str(long), "--batch", "B1", check=False)
    assert result.returncode == 2
    assert "line 2" in result.stderr and "21 characters" in result.stderr

    with Ledger(ledger_file) as ledger:
        assert ledger.state_counts("B1").get(SerialState.ALLOCATED, 0) == 0
