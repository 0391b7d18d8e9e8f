"""``linectl ledger init`` on a ledger that already has users rewrites and resets nothing unless an
admin is logged in: no second "first admin", no new audit key, no re-keying of a trail whose keys
were removed; each refusal names the reason and changes nothing."""

from __future__ import annotations

import io
import sqlite3
import sys
from pathlib import Path

import pytest

from linectl.cli import main
from linectl.identity.keyfiles import session_path
from linectl.ledger import Ledger
from tests.people import People, new_password


@pytest.fixture
def people(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> People:
    """A ledger made by ``linectl ledger init --admin admin``, with a supervisor, logged in."""
    path = tmp_path / "line.db"
    password = new_password()
    monkeypatch.setattr(sys, "stdin", io.StringIO(f"{password}\n{password}\n"))
    argv = ["--ledger", str(path), "--password-stdin", "ledger", "init", "--admin", "admin"]
    assert main(argv) == 0
    people = People(path)
    people.passwords["admin"] = password
    people.log_in("sv.sam", "supervisor", "Sam Supervisor")
    return people


def init(
    people: People, capsys: pytest.CaptureFixture[str], *extra: str, stdin: str = ""
) -> tuple[int, str]:
    capsys.readouterr()
    saved = sys.stdin
    sys.stdin = io.StringIO(stdin)
    try:
        code = main(["--ledger", str(people.path), "--password-stdin", "ledger", "init", *extra])
    finally:
        sys.stdin = saved
    out, err = capsys.readouterr()
    return code, out + err


def state(people: People) -> tuple[list[str], list[tuple[int, str, str]]]:
    """The users and the audit trail (id, actor, command), read without the key."""
    with Ledger(people.path) as ledger, ledger.identity.read() as rows:
        users = [u.name for u in rows.users()]
    with Ledger(people.path) as ledger:
        trail = [(e.id, e.actor, e.command) for e in ledger.audit_entries(limit=100_000)]
    return users, trail


def log_out(people: People) -> None:
    session_path(people.policy, people.path).unlink()


def test_nobody_logged_in_cannot_reinit_or_make_a_second_first_admin(
    people: People, capsys: pytest.CaptureFixture[str]
) -> None:
    log_out(people)
    before = state(people)
    code, text = init(people, capsys)
    assert code == 2
    assert "refused (not-logged-in)" in text and "already has users" in text
    assert "needs an admin logged in" in text and "nothing changed" in text
    pw = new_password()
    code, text = init(people, capsys, "--admin", "mallory", stdin=f"{pw}\n{pw}\n")
    assert code == 2 and "refused (ledger-exists)" in text and "would make another" in text
    secret = people.path.parent / "mallory.secret"
    code, text = init(people, capsys, "--admin", "mallory", "--one-time-secret", str(secret))
    assert code == 2 and not secret.exists()
    assert state(people) == before  # no user, no audit row, nothing


def test_a_supervisor_may_not_reinit_and_the_refusal_is_audited(
    people: People, capsys: pytest.CaptureFixture[str]
) -> None:
    users, trail = state(people)
    code, text = init(people, capsys)
    assert code == 2 and "refused (permission-denied)" in text
    assert "sv.sam (role supervisor) may not ledger init" in text
    after_users, after_trail = state(people)
    assert after_users == users
    assert [(a, c) for _, a, c in after_trail[len(trail) :]] == [("sv.sam", "refused")]


def test_an_admin_reinit_changes_no_user_record_or_key_and_is_attributed(
    people: People, capsys: pytest.CaptureFixture[str]
) -> None:
    key = (people.path.parent / "audit.key").read_text()
    people.session("admin")
    users, trail = state(people)
    code, text = init(people, capsys)
    assert code == 0, text
    assert "ledger init by admin: users, records and key unchanged" in text
    assert (people.path.parent / "audit.key").read_text() == key
    after_users, after_trail = state(people)
    assert after_users == users and after_trail[: len(trail)] == trail
    assert [(a, c) for _, a, c in after_trail[len(trail) :]] == [("admin", "ledger.init")]
    people.session("sv.sam")
    code = main(["--ledger", str(people.path), "audit", "verify"])
    assert code == 0 and "audit chain intact" in capsys.readouterr().out


def test_a_trail_whose_keys_were_removed_is_not_keyed_again_even_by_an_admin(
    people: People, capsys: pytest.CaptureFixture[str]
) -> None:
    people.session("admin")
    conn = sqlite3.connect(people.path)
    conn.execute("DELETE FROM audit_macs")
    conn.execute("DELETE FROM audit_keying")
    conn.commit()
    conn.close()
    code, text = init(people, capsys)
    assert code == 2 and "refused (ledger-exists)" in text
    assert "carries no key" in text and "keys were removed" in text
    with Ledger(people.path) as ledger:
        assert ledger.identity.keyed() is None  # still unkeyed: audit verify keeps seeing it
    people.session("sv.sam")
    assert main(["--ledger", str(people.path), "audit", "verify"]) == 1
    assert "carries no key although an audit key is configured" in capsys.readouterr().out


def test_a_keyed_ledger_whose_key_file_is_gone_gets_no_new_key(
    people: People, capsys: pytest.CaptureFixture[str]
) -> None:
    people.session("admin")
    key = people.path.parent / "audit.key"
    key.unlink()
    code, text = init(people, capsys)
    assert code == 2 and "key file" in text and "missing or unreadable" in text
    assert not key.exists()
