"""Signatures and the second person, through the CLI and the control API alike: an operator can
neither release a batch nor administer users; QA releases only a batch someone else closed;
every change is attributed in the audit trail to the user who was authenticated."""

from __future__ import annotations

import io
import json
import sys
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import aiohttp
import pytest

from linectl.cli import main
from linectl.config import ControlSection, IdentitySection
from linectl.identity import Identity
from linectl.ledger import Ledger
from linectl.service.api import ControlApi, start_control_api
from tests.aggregation.conftest import LINE
from tests.people import People
from tests.service.standin_line import StandInLine

GTIN = "09506000134352"


@pytest.fixture
def people(tmp_path: Path) -> People:
    people = People(tmp_path / "line.db")
    people.add("sv.sam", "supervisor", "Sam Supervisor")
    people.add("qa.quinn", "qa", "Quinn Quality")
    people.add("op.eve", "operator", "Eve Operator")
    return people


@pytest.fixture(autouse=True)
def line_config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The line configuration (a release writes EPCIS events); --ledger names the ledger."""
    path = tmp_path / "line.toml"
    path.write_text(
        f'[line]\nid = "{LINE.id}"\nread_point = "{LINE.read_point}"\n'
        f'biz_location = "{LINE.biz_location}"\ncompany_prefix_length = 7\n'
        f'[ledger]\npath = "{tmp_path / "line.db"}"\n'
    )
    monkeypatch.setenv("LINECTL_CONFIG", str(path))
    return path


def cli(
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    people: People,
    *argv: str,
    stdin: str = "",
) -> tuple[int, str, str]:
    monkeypatch.setattr(sys, "stdin", io.StringIO(stdin))
    code = main(["--ledger", str(people.path), "--password-stdin", *argv])
    out, err = capsys.readouterr()
    return code, out, err


def closed_batch(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], people: People, batch: str
) -> None:
    """Supervisor sam creates, starts and closes (signing) ``batch`` through the CLI."""
    people.session("sv.sam")
    for step in (
        [
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
        ],
        ["batch", "start", batch],
    ):
        assert cli(monkeypatch, capsys, people, *step)[0] == 0
    code, out, err = cli(
        monkeypatch, capsys, people, "batch", "close", batch, stdin=people.passwords["sv.sam"]
    )
    assert code == 0, err
    assert "signed by Sam Supervisor (sv.sam)" in out and "performed" in out


def audit_rows(path: Path) -> list[tuple[str, str, str]]:
    with Ledger(path) as ledger:
        return [(e.command, e.actor, e.after) for e in ledger.audit_entries(limit=100_000)]


def test_through_the_cli_only_another_person_with_qa_releases_and_each_step_is_attributed(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], people: People
) -> None:
    closed_batch(monkeypatch, capsys, people, "B1")

    people.session("op.eve")  # an operator: neither release nor user administration
    code, _, err = cli(monkeypatch, capsys, people, "batch", "release", "B1", stdin="x")
    assert code == 2 and "op.eve (role operator) may not batch release" in err
    code, _, err = cli(
        monkeypatch, capsys, people, "user", "add", "op.mallory", "--role", "admin", stdin="x\nx\nx"
    )
    assert code == 2 and "may not" in err and "user.admin" in err

    people.session("qa.quinn")
    code, _, err = cli(monkeypatch, capsys, people, "batch", "release", "B1", stdin="wrong")
    assert code == 2 and "wrong password for qa.quinn" in err
    code, out, err = cli(
        monkeypatch, capsys, people, "batch", "release", "B1", stdin=people.passwords["qa.quinn"]
    )
    assert code == 0, err
    assert "batch B1 released: signed by Quinn Quality (qa.quinn)" in out and "released" in out
    code, _, err = cli(
        monkeypatch, capsys, people, "batch", "release", "B1", stdin=people.passwords["qa.quinn"]
    )
    assert code == 2 and "released already by Quinn Quality" in err

    code, out, _ = cli(monkeypatch, capsys, people, "report", "B1")
    assert code == 0
    assert "signed: batch.close by Sam Supervisor (sv.sam)" in out and "meaning performed" in out
    assert "signed: batch.release by Quinn Quality (qa.quinn)" in out
    assert "audit chain head: row " in out

    rows = audit_rows(people.path)
    actor = {command: who for command, who, _ in rows if command.startswith("work_order")}
    assert actor == {
        "work_order.create": "sv.sam",
        "work_order.start": "sv.sam",
        "work_order.close": "sv.sam",
        "work_order.release": "qa.quinn",
    }
    assert ("batch.release.signed", "qa.quinn") in {(c, a) for c, a, _ in rows}
    refused = [(a, json.loads(after)["command"]) for c, a, after in rows if c == "refused"]
    assert ("op.eve", "batch.release") in refused and ("op.eve", "user.admin") in refused
    failed = [a for c, a, _ in rows if c == "login.failed"]
    assert failed == ["qa.quinn"]  # the wrong signature password


def test_whoever_closed_a_batch_cannot_release_it_even_with_the_qa_role(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], people: People
) -> None:
    closed_batch(monkeypatch, capsys, people, "B2")
    with people.identity() as identity:
        identity.set_role(people.admin, "sv.sam", "qa")  # sam moves to QA
    people.session("sv.sam")
    code, _, err = cli(
        monkeypatch, capsys, people, "batch", "release", "B2", stdin=people.passwords["sv.sam"]
    )
    assert code == 2 and "sv.sam started or closed batch B2" in err
    assert "second person" in err
    with Ledger(people.path) as ledger, ledger.identity.read() as rows:
        assert rows.signatures("batch.release", "B2") == []


# --- the control API -----------------------------------------------------------------------------


@pytest.fixture
def identity(people: People) -> Iterator[Identity]:
    with Ledger(people.path) as ledger:
        yield Identity(ledger, IdentitySection())


@pytest.fixture
async def api(identity: Identity) -> AsyncIterator[ControlApi]:
    served = await start_control_api(
        StandInLine(),
        ControlSection().model_copy(update={"port": 0}),
        identity=identity,
        line=LINE,
    )
    yield served
    await served.close()


async def test_through_the_api_an_operator_cannot_release_or_list_users_but_qa_releases(
    api: ControlApi,
    people: People,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    closed_batch(monkeypatch, capsys, people, "B3")
    eve, quinn, admin = (people.session(n) for n in ("op.eve", "qa.quinn", "admin"))
    release = f"{api.url}/v1/batches/B3/release"
    signed = {"signature": {"password": people.passwords["qa.quinn"], "meaning": "released"}}
    async with aiohttp.ClientSession() as http:
        async with http.post(release, json=signed, headers=bearer(eve)) as r:
            assert r.status == 403
            assert "op.eve (role operator) may not" in (await r.json(content_type=None))["detail"]
        async with http.get(f"{api.url}/v1/users", headers=bearer(eve)) as r:
            assert r.status == 403
        async with http.get(f"{api.url}/v1/users", headers=bearer(admin)) as r:
            names = [u["name"] for u in (await r.json())["users"]]
            assert r.status == 200 and "op.eve" in names
            assert all("password_hash" not in u for u in (await r.json())["users"])
        async with http.post(release, json=signed, headers=bearer(quinn)) as r:
            answer = await r.json()
            assert r.status == 200, answer
    assert answer["signature"]["printed_name"] == "Quinn Quality"
    assert answer["signature"]["meaning"] == "released"
    rows = audit_rows(people.path)
    assert ("batch.release.signed", "qa.quinn") in {(c, a) for c, a, _ in rows}
    assert ("refused", "op.eve") in {(c, a) for c, a, _ in rows}


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}
