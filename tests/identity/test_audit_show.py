"""``linectl audit show``: the trail readably, filtered by batch, user and time, failed logins
included, and as JSON."""

from __future__ import annotations

import io
import json
import sys
from pathlib import Path

import pytest

from linectl.cli import main
from tests.people import People

GTIN = "09506000134352"


def test_audit_show_lists_changes_and_failed_logins_by_user_batch_and_time(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    people = People(tmp_path / "line.db")
    people.log_in("sv.sam", "supervisor", "Sam Supervisor")
    base = ["--ledger", str(people.path)]
    for batch in ("B1", "B2"):
        argv = [
            "batch",
            "create",
            batch,
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
            "--reason",
            f"order {batch}",
        ]
        assert main([*base, *argv]) == 0
    monkeypatch.setattr(sys, "stdin", io.StringIO("not-the-password\n"))
    assert main([*base, "--password-stdin", "login", "sv.sam"]) == 2  # a failed login
    capsys.readouterr()

    assert main([*base, "audit", "show", "--batch", "B2"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 1 and "sv.sam" in lines[0] and "work_order.create" in lines[0]
    assert "(order B2)" in lines[0]

    assert main([*base, "audit", "show", "--user", "sv.sam", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    commands = [r["command"] for r in rows]
    assert commands.count("work_order.create") == 2 and "login.failed" in commands
    failed = next(r for r in rows if r["command"] == "login.failed")
    assert failed["reason"] == "wrong-password" and "not-the-password" not in json.dumps(rows)

    assert main([*base, "audit", "show", "--since", "2999-01-01"]) == 0
    assert capsys.readouterr().out == ""
