"""A demo batch for the batch record tests: made over several minutes with rejects of several
reasons, a label-roll change, an alarm acknowledged, a QA sample, closed and released (signed)."""

from __future__ import annotations

import contextlib
import io
import sys
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from linectl.cli import main
from linectl.ledger import Ledger, UnitResult, Verdict
from linectl.lifecycle import EventFactory, record_verdicts, return_unused
from tests.aggregation.conftest import LINE
from tests.people import People

GTIN = "09506000134352"
BATCH = "DEMO-7"
REASONS = ("no-read", "low-grade", "wrong-content", "no-read", "no-read", "late", "low-grade")


def second_clock() -> Callable[[], datetime]:
    """Ledger time advancing two seconds per reading: a batch that spans several minutes."""
    moment = datetime(2026, 12, 4, 8, 0, tzinfo=UTC)

    def now() -> datetime:
        nonlocal moment
        moment += timedelta(seconds=2)
        return moment

    return now


def write_config(tmp: Path, ledger: Path) -> Path:
    path = tmp / "line.toml"
    path.write_text(
        f'[line]\nid = "{LINE.id}"\nread_point = "{LINE.read_point}"\n'
        f'biz_location = "{LINE.biz_location}"\ncompany_prefix_length = 7\n'
        f'[ledger]\npath = "{ledger}"\n'
    )
    return path


def make_demo_batch(tmp: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Path, People]:
    """The demo batch in a new ledger; returns the configuration and the people who signed."""
    people = People(tmp / "line.db")
    people.add("sv.sam", "supervisor", "Sam Supervisor")
    people.add("qa.quinn", "qa", "Quinn Quality")
    config = write_config(tmp, people.path)
    with Ledger(people.path, clock=second_clock()) as ledger:
        ledger.create_work_order(
            batch=BATCH, gtin=GTIN, lot="L2612A", expiry="281130", quantity=300,
            target_market="DE", materials={"label-roll": "LR-777", "carton": "CT-1"},
            actor="sv.sam",
        )  # fmt: skip
        ledger.import_serials(BATCH, GTIN, [f"D{i:05d}" for i in range(320)], "sv.sam")
        ledger.start_work_order(BATCH, actor="sv.sam")
        raised = {"code": "reject-unconfirmed", "message": "reject of seq 40 not confirmed",
                  "since": "2026-12-04T08:01:00.000Z", "holds": True, "count": 1}  # fmt: skip
        seq = 0
        for group in range(30):
            factory = EventFactory(LINE, ledger.get_work_order(BATCH))
            taken = ledger.take_for_encoding(BATCH, 10)
            units = []
            for serial in taken:
                bad = seq % 17 == 3 or (group > 20 and seq % 5 == 0)
                reason = REASONS[seq % len(REASONS)] if bad else None
                verdict = Verdict.REJECT if bad else Verdict.GOOD
                units.append(UnitResult(serial, seq, verdict, "B" if bad else "A", reason))
                seq += 1
            record_verdicts(ledger, factory, units)
            if group == 9:
                ledger.batches.change_material(BATCH, "label-roll", "LR-778", actor="sv.sam",
                                               reason="roll ran out")  # fmt: skip
            if group == 14:
                ledger.record_event("linectl", "line.alarm", raised["message"], None, raised)
                cleared = {"code": "reject-unconfirmed", "cleared": True}
                ledger.record_event("linectl", "line.alarm", "", None, cleared)
                ledger.record_event(
                    "sv.sam", "line.command", "pack found", {"command": "reset"}, {}
                )
        return_unused(ledger, BATCH, actor="sv.sam", reason="batch end")
    sample = "D00001"
    people.session("qa.quinn")
    run(monkeypatch, config, "unit", "sample", sample, "--reason", "retained sample",
        stdin=people.passwords["qa.quinn"])  # fmt: skip
    people.session("sv.sam")
    run(monkeypatch, config, "batch", "close", BATCH, stdin=people.passwords["sv.sam"])
    people.session("qa.quinn")
    run(monkeypatch, config, "batch", "release", BATCH, stdin=people.passwords["qa.quinn"])
    return config, people


def run(monkeypatch: pytest.MonkeyPatch, config: Path, *argv: str, stdin: str = "") -> str:
    """``linectl --config CONFIG ARGV``, which must succeed; returns what it printed."""
    monkeypatch.setattr(sys, "stdin", io.StringIO(stdin + "\n"))
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(["--config", str(config), "--password-stdin", *argv])
    assert code == 0, (argv, out.getvalue(), err.getvalue())
    return out.getvalue()
