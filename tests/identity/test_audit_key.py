"""The keyed audit trail: a rewrite with the public hash function no longer goes unnoticed.

The attack of the issue: with only the ledger file, change the user of audit row 2 and
recompute the whole chain from there with ``compute_row_hash``. The unkeyed chain then checks
out; the key MAC of each row (key outside the file) does not, and ``linectl audit verify``
names row 2.
"""

from __future__ import annotations

import io
import sqlite3
import stat
import sys
from pathlib import Path

import pytest

from linectl.cli import main
from linectl.ledger import Ledger
from linectl.ledger.audit import compute_row_hash
from tests.people import People, new_password

GTIN = "09506000134352"


@pytest.fixture
def keyed_ledger(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """``linectl ledger init`` (key file, first admin), then a supervisor's batch via the CLI."""
    path = tmp_path / "line.db"
    password = new_password()
    monkeypatch.setattr(sys, "stdin", io.StringIO(f"{password}\n{password}\n"))
    argv = ["--ledger", str(path), "--password-stdin", "ledger", "init", "--admin", "admin"]
    assert main(argv) == 0
    people = People(path)
    people.log_in("sv.sam", "supervisor", "Sam Supervisor")
    for step in (
        [
            "batch",
            "create",
            "B1",
            "--gtin",
            GTIN,
            "--lot",
            "L1",
            "--expiry",
            "281130",
            "--quantity",
            "10",
            "--market",
            "DE",
        ],
        ["batch", "start", "B1"],
    ):
        assert main(["--ledger", str(path), *step]) == 0
    return path


def rewrite_user_of_row_2(path: Path) -> None:
    """The attacker: edit row 2's user, recompute the unkeyed chain from there on."""
    conn = sqlite3.connect(path)
    try:
        conn.execute("DROP TRIGGER audit_no_update")
        conn.execute("UPDATE audit SET actor = 'mallory' WHERE id = 2")
        prev = conn.execute("SELECT row_hash FROM audit WHERE id = 1").fetchone()[0]
        for row in conn.execute(
            "SELECT id, at, actor, command, reason, before, after FROM audit WHERE id >= 2 "
            "ORDER BY id"
        ).fetchall():
            row_hash = compute_row_hash(*row, prev)
            conn.execute(
                "UPDATE audit SET prev_hash = ?, row_hash = ? WHERE id = ?",
                (prev, row_hash, row[0]),
            )
            prev = row_hash
        conn.commit()
    finally:
        conn.close()


def verify(path: Path, capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    code = main(["--ledger", str(path), "audit", "verify"])
    out, err = capsys.readouterr()
    return code, out + err


def test_ledger_init_creates_the_key_outside_the_ledger_readable_only_by_its_owner(
    keyed_ledger: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    key = keyed_ledger.parent / "audit.key"
    assert stat.S_IMODE(key.stat().st_mode) == 0o600
    assert key.read_text().strip().encode() not in keyed_ledger.read_bytes()
    code, text = verify(keyed_ledger, capsys)
    assert code == 0 and "audit chain intact" in text and "keyed (key " in text


def test_a_recomputed_chain_is_detected_and_row_2_is_named(
    keyed_ledger: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rewrite_user_of_row_2(keyed_ledger)
    with Ledger(keyed_ledger) as ledger:  # what the unkeyed chain alone says: nothing wrong
        assert ledger.verify_audit().first_broken_id != 2
    code, text = verify(keyed_ledger, capsys)
    assert code == 1
    assert "audit chain broken at row 2" in text and "key MAC does not match" in text


def test_removing_the_keys_from_the_file_is_detected(
    keyed_ledger: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rewrite_user_of_row_2(keyed_ledger)
    conn = sqlite3.connect(keyed_ledger)
    conn.execute("DELETE FROM audit_macs")
    conn.execute("DELETE FROM audit_keying")
    conn.commit()
    conn.close()
    code, text = verify(keyed_ledger, capsys)
    assert code == 1 and "carries no key although an audit key is configured" in text


def test_without_its_key_a_keyed_ledger_is_not_reported_intact_nor_written(
    keyed_ledger: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (keyed_ledger.parent / "audit.key").rename(keyed_ledger.parent / "elsewhere.key")
    code, text = verify(keyed_ledger, capsys)
    assert code == 1 and "no audit key was given" in text
    code = main(["--ledger", str(keyed_ledger), "batch", "close", "B1"])
    assert code == 2
    assert "audit trail is keyed" in capsys.readouterr().err  # before any password prompt


def test_the_report_prints_the_chain_head(
    keyed_ledger: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    main(["--ledger", str(keyed_ledger), "report", "B1"])
    out = capsys.readouterr().out
    with Ledger(keyed_ledger) as ledger:
        head = ledger.audit_head()
    assert head is not None
    assert f"audit chain head: row {head[0]} {head[1]} (key " in out


def test_an_existing_v4_ledger_is_keyed_with_its_rows_when_init_runs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from linectl.ledger import MIGRATIONS, SCHEMA_VERSION

    path = tmp_path / "old.db"
    with Ledger(path, migrations=MIGRATIONS[:4]) as old:
        old.create_work_order(
            batch="B0",
            gtin=GTIN,
            lot="L0",
            expiry="281130",
            quantity=5,
            target_market="DE",
            actor="someone",
        )
    password = new_password()
    monkeypatch.setattr(sys, "stdin", io.StringIO(f"{password}\n{password}\n"))
    argv = ["--ledger", str(path), "--password-stdin", "ledger", "init", "--admin", "admin"]
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert f"schema version {SCHEMA_VERSION}" in out and "audit trail keyed" in out
    People(path).log_in("qa.vera", "qa")
    code, text = verify(path, capsys)
    assert code == 0 and "keyed" in text
