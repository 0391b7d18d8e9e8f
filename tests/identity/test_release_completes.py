"""A release completes the batch: only a closed batch that balances with no open alarm, by a
second person; its commissioned units become Released and the matching EPCIS event is queued
(schema-valid). Each refusal names its reason."""

from __future__ import annotations

import io
import json
import sqlite3
import sys
from pathlib import Path

import jsonschema
import pytest

from linectl.cli import main
from linectl.ledger import Ledger, SerialState, UnitResult, Verdict
from linectl.lifecycle import EventFactory, record_verdicts
from tests.aggregation.conftest import LINE, event_clock, schema, schema_errors
from tests.people import People

__all__ = ["schema"]  # the EPCIS schema fixture, shared with the aggregation tests

GTIN = "09506000134352"


@pytest.fixture
def people(tmp_path: Path) -> People:
    people = People(tmp_path / "line.db")
    people.add("sv.sam", "supervisor", "Sam Supervisor")
    people.add("qa.quinn", "qa", "Quinn Quality")
    return people


@pytest.fixture
def config(tmp_path: Path, people: People) -> Path:
    path = tmp_path / "line.toml"
    path.write_text(
        f'[line]\nid = "{LINE.id}"\nread_point = "{LINE.read_point}"\n'
        f'biz_location = "{LINE.biz_location}"\ncompany_prefix_length = 7\n'
        f'[ledger]\npath = "{people.path}"\n'
    )
    return path


def cli(
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    config: Path,
    *argv: str,
    stdin: str = "",
) -> tuple[int, str, str]:
    monkeypatch.setattr(sys, "stdin", io.StringIO(stdin))
    code = main(["--config", str(config), "--password-stdin", *argv])
    out, err = capsys.readouterr()
    return code, out, err


def produce(people: People, batch: str, good: int, bad: int) -> list[str]:
    """Supervisor sam creates and starts ``batch``; the line judges ``good`` + ``bad`` packs."""
    with Ledger(people.path) as ledger:
        ledger.create_work_order(
            batch=batch,
            gtin=GTIN,
            lot="L1",
            expiry="281130",
            quantity=good,
            target_market="DE",
            actor="sv.sam",
        )
        ledger.import_serials(
            batch, GTIN, [f"{batch}-{i:04d}" for i in range(good + bad)], "sv.sam"
        )
        ledger.start_work_order(batch, actor="sv.sam")
        taken = ledger.take_for_encoding(batch, good + bad)
        units = [
            UnitResult(
                s,
                i,
                Verdict.GOOD if i < good else Verdict.REJECT,
                "A",
                None if i < good else "no-read",
            )
            for i, s in enumerate(taken)
        ]
        factory = EventFactory(LINE, ledger.get_work_order(batch))
        record_verdicts(ledger, factory, units, clock=event_clock())
        return taken[:good]


def close(people: People, batch: str) -> None:
    with Ledger(people.path) as ledger:
        ledger.close_work_order(batch, actor="sv.sam", reason="batch end")


def release(
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    people: People,
    config: Path,
    batch: str,
) -> tuple[int, str, str]:
    people.session("qa.quinn")
    return cli(
        monkeypatch, capsys, config, "batch", "release", batch, stdin=people.passwords["qa.quinn"]
    )


def test_an_open_batch_is_refused_with_its_reason_named(
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    people: People,
    config: Path,
) -> None:
    produce(people, "B1", 5, 1)
    code, _, err = release(monkeypatch, capsys, people, config, "B1")
    assert code == 2
    assert "refused (batch-open)" in err and "batch B1 is started: close it" in err
    with Ledger(people.path) as ledger:
        assert ledger.state_counts("B1")[SerialState.COMMISSIONED] == 5
        assert SerialState.RELEASED not in ledger.state_counts("B1")


def test_a_batch_that_does_not_balance_is_refused_and_nothing_moves(
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    people: People,
    config: Path,
) -> None:
    good = produce(people, "B1", 5, 0)
    close(people, "B1")
    conn = sqlite3.connect(people.path)  # a serial slipped in behind linectl's back
    with conn:
        conn.execute(
            "INSERT INTO serials (gtin, serial, batch, state, updated_at) "
            "SELECT gtin, 'B1-X', batch, state, updated_at FROM serials WHERE serial = ?",
            (good[0],),
        )
    conn.close()
    code, _, err = release(monkeypatch, capsys, people, config, "B1")
    assert code == 2
    assert "refused (not-balanced)" in err and "does not reconcile" in err
    assert "1 serials in the batch have no import record" in err
    with Ledger(people.path) as ledger:
        assert SerialState.RELEASED not in ledger.state_counts("B1")
        assert not [e for e in ledger.outbox.peek(1000) if e.kind == "release"]


def test_an_alarm_left_open_by_a_daemon_that_died_ends_with_the_next_start(
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    people: People,
    config: Path,
) -> None:
    # the daemon held the line and was killed; the next start ends that run's alarms (and
    # raises again whatever still stands), so the release is not blocked for ever
    produce(people, "B1", 4, 0)
    with Ledger(people.path) as ledger:
        raised = {"code": "ledger", "message": "ledger write failed: disk full",
                  "since": "2026-12-04T08:00:00.000Z", "holds": True, "count": 1}  # fmt: skip
        ledger.record_event("linectl", "line.alarm", raised["message"], None, raised)
        ledger.record_event("linectl", "line.recovery", "start-up", None, {"held": False})
    close(people, "B1")
    with Ledger(people.path) as ledger:
        (alarm,) = ledger.batches.alarms("B1")
    assert alarm.cleared_at is not None and alarm.acknowledged_by == "linectl (restarted)"
    code, out, err = release(monkeypatch, capsys, people, config, "B1")
    assert code == 0, err
    assert "4 units Released" in out


def test_an_open_alarm_blocks_the_release_until_someone_acknowledges_it(
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    people: People,
    config: Path,
) -> None:
    produce(people, "B1", 4, 0)
    with Ledger(people.path) as ledger:  # as the daemon writes it when the gate fails
        raised = {"code": "reject-unconfirmed", "message": "reject of seq 3 not confirmed",
                  "since": "2026-12-04T08:00:00.000Z", "holds": True, "count": 1}  # fmt: skip
        ledger.record_event("linectl", "line.alarm", raised["message"], None, raised)
    close(people, "B1")
    code, _, err = release(monkeypatch, capsys, people, config, "B1")
    assert code == 2
    assert "refused (open-alarm)" in err
    assert "reject-unconfirmed (since 2026-12-04T08:00:00.000Z: reject of seq 3" in err

    with Ledger(people.path) as ledger:  # sam resets the line: the alarm clears, then the command
        cleared = {"code": "reject-unconfirmed", "cleared": True}
        ledger.record_event("linectl", "line.alarm", "", None, cleared)
        ledger.record_event("sv.sam", "line.command", "checked", {"command": "reset"}, {})
        (alarm,) = ledger.batches.alarms("B1")
    assert alarm.cleared_at is not None and alarm.acknowledged_by == "sv.sam"
    code, out, err = release(monkeypatch, capsys, people, config, "B1")
    assert code == 0, err
    assert "4 units Released" in out


def test_once_released_units_are_released_and_a_schema_valid_event_is_queued(
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    people: People,
    config: Path,
    schema: jsonschema.Draft7Validator,
) -> None:
    good = produce(people, "B1", 6, 2)
    close(people, "B1")
    code, out, err = release(monkeypatch, capsys, people, config, "B1")
    assert code == 0, err
    assert "batch B1 released: signed by Quinn Quality (qa.quinn)" in out
    assert "6 units Released" in out
    with Ledger(people.path) as ledger:
        counts = ledger.state_counts("B1")
        assert counts == {SerialState.RELEASED: 6, SerialState.LABEL_SCRAPPED: 2}
        rec = ledger.reconcile("B1")
        assert rec.balanced and rec.commissioned == 6 and rec.scrapped == 2
        (entry,) = [e for e in ledger.outbox.peek(1000) if e.kind == "release"]
        trace = ledger.trace(good[0])
    event = json.loads(entry.body)
    assert (event["type"], event["action"]) == ("ObjectEvent", "OBSERVE")
    assert (event["bizStep"], event["disposition"]) == ("inspecting", "conformant")
    assert len(event["epcList"]) == 6 and event["epcList"][0].endswith(f".{good[0]}")
    assert schema_errors(schema, [event]) == []
    assert trace.state is SerialState.RELEASED
    assert [h.to_state for h in trace.history][-1] is SerialState.RELEASED
    assert "release" in [e.kind for e in trace.events]

    code, out, _ = cli(monkeypatch, capsys, config, "report", "B1")
    assert code == 0 and "Released 6" in out and "signed: batch.release by Quinn Quality" in out


def test_the_person_who_closed_the_batch_cannot_release_it(
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    people: People,
    config: Path,
) -> None:
    produce(people, "B1", 3, 0)
    close(people, "B1")
    with people.identity() as identity:
        identity.set_role(people.admin, "sv.sam", "qa")
    people.session("sv.sam")
    code, _, err = cli(
        monkeypatch, capsys, config, "batch", "release", "B1", stdin=people.passwords["sv.sam"]
    )
    assert code == 2 and "refused (second-person)" in err
    with Ledger(people.path) as ledger:
        assert ledger.state_counts("B1") == {SerialState.COMMISSIONED: 3}
