"""Audit rows for line events (state changes, operator commands) and the per-batch reject table."""

from __future__ import annotations

import json

import pytest

from linectl.ledger import Ledger, SerialState, UnitResult, ValidationError, Verdict
from tests.ledger.conftest import GTIN, new_batch


def test_a_line_event_is_one_chained_audit_row(ledger: Ledger) -> None:
    new_batch(ledger, n=2)
    head_before = ledger.audit_head()
    entry = ledger.record_event(
        "alice", "line.command", "shift start", {"state": "IDLE"}, {"state": "STARTING"}
    )
    assert head_before is not None and entry.id == head_before[0] + 1
    assert entry.prev_hash == head_before[1]
    assert json.loads(entry.after) == {"state": "STARTING"}
    assert ledger.audit_entries(after_id=head_before[0]) == [entry]
    report = ledger.verify_audit()
    assert report.ok, str(report)


@pytest.mark.parametrize("command", ["units.record", "serials.encode", "work_order.start"])
def test_a_line_event_cannot_pose_as_a_ledger_command(ledger: Ledger, command: str) -> None:
    with pytest.raises(ValidationError, match="ledger command"):
        ledger.record_event("line", command)
    assert ledger.audit_head() is None


@pytest.mark.parametrize("command", ["", "line", "Line.State", "line state", "line.\nstate"])
def test_a_line_event_needs_a_dotted_name(ledger: Ledger, command: str) -> None:
    with pytest.raises(ValidationError, match="command"):
        ledger.record_event("line", command)


def test_a_line_event_needs_an_actor(ledger: Ledger) -> None:
    with pytest.raises(ValidationError, match="actor"):
        ledger.record_event(" ", "line.state")


def test_reject_counts_group_unit_reasons_and_unitless_scraps(ledger: Ledger) -> None:
    items = new_batch(ledger, n=8)
    taken = ledger.take_for_encoding("B1", 7)
    assert taken == items[:7]
    units = [
        UnitResult(items[0], 1, Verdict.GOOD, grade="A"),
        UnitResult(items[1], 2, Verdict.REJECT, reason="no-read"),
        UnitResult(items[2], 3, Verdict.REJECT, reason="no-read"),
        UnitResult(items[3], 4, Verdict.REJECT, reason="duplicate"),
    ]
    ledger.record_units(units, gtin=GTIN)
    ledger.transition(items[4:6], SerialState.LABEL_SCRAPPED, "line", "crash-recovery")
    ledger.transition(items[6], SerialState.LABEL_SCRAPPED, "line", "cancelled")
    assert ledger.reject_counts("B1") == {
        "no-read": 2,
        "duplicate": 1,
        "crash-recovery": 2,
        "cancelled": 1,
    }
    assert ledger.verify_audit().ok
