"""Batch reconciliation: every received serial lands in exactly one bucket."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

from linectl.ledger import BUCKET_OF, Bucket, Ledger, SerialState, UnitResult, Verdict
from tests.ledger.conftest import GTIN, new_batch

S = SerialState


def run_batch_through_every_bucket(ledger: Ledger) -> dict[str, SerialState]:
    """30 serials moved into all six final buckets; returns the expected final state of each."""
    items = new_batch(ledger, n=30)
    encoded = ledger.take_for_encoding("B1", 20)
    good, rejected, label_sample, crashed = encoded[:14], encoded[14:17], encoded[17], encoded[18:]
    ledger.record_units([UnitResult(s, i, Verdict.GOOD, grade="A") for i, s in enumerate(good)])
    ledger.record_units(
        [UnitResult(s, 100 + i, Verdict.REJECT, reason="no-read") for i, s in enumerate(rejected)]
    )
    ledger.transition([label_sample], S.LABEL_SAMPLED, "qa", "retained label")
    ledger.transition(crashed, S.LABEL_SCRAPPED, "line", "lost in crash")
    ledger.transition(good[:4], S.RELEASED, "alice", "shipped")
    ledger.transition(good[4:6], S.SAMPLED, "qa", "stability sample")
    ledger.transition(good[6:7], S.DESTROYED, "qa", "dropped")
    ledger.transition(good[7:8], S.INACTIVE, "qa", "decommissioned")
    ledger.transition(good[4:5], S.DESTROYED, "qa", "destroyed in testing")
    unused = items[20:]
    ledger.transition(unused[:4], S.UNALLOCATED, "uplink", "SNReturnAllocated")
    ledger.transition(unused[4:6], S.SN_INVALID, "uplink", "voided")
    ledger.close_work_order("B1", actor="alice")
    return {s: ledger.trace(s).state for s in items}


def test_a_batch_through_every_bucket_balances(ledger: Ledger) -> None:
    final = run_batch_through_every_bucket(ledger)
    result = ledger.reconcile("B1")
    per_bucket = {b: 0 for b in Bucket}
    for state in final.values():
        per_bucket[BUCKET_OF[state]] += 1
    assert result.received == len(final) == 30
    assert result.commissioned == per_bucket[Bucket.COMMISSIONED] == 4 + 6  # released + still here
    assert result.scrapped == per_bucket[Bucket.SCRAPPED] == 3 + 2 + 1  # rejects, crash, inactive
    assert result.sampled == per_bucket[Bucket.SAMPLED] == 1 + 1  # label sample, sampled pack
    assert result.destroyed == per_bucket[Bucket.DESTROYED] == 2
    assert result.returned == per_bucket[Bucket.RETURNED] == 4 + 2
    assert result.unused == per_bucket[Bucket.UNUSED] == 4
    assert result.in_process == 0
    total = sum(getattr(result, b.value) for b in Bucket)
    assert total == result.received == result.accounted
    assert result.balanced
    assert result.problems == ()


def test_the_report_renders_as_json_and_as_a_table(ledger: Ledger) -> None:
    run_batch_through_every_bucket(ledger)
    result = ledger.reconcile("B1")
    data = json.loads(result.to_json())
    assert data["balanced"] is True
    assert data["received"] == 30
    assert data["by_state"]["Released"] == 4
    table = result.to_table()
    assert "batch B1" in table
    assert "balanced: yes" in table
    assert any(line.split() == ["commissioned", "10"] for line in table.splitlines())


def test_encoded_serials_of_an_open_batch_are_in_process(ledger: Ledger) -> None:
    new_batch(ledger, n=5)
    ledger.take_for_encoding("B1", 2)
    result = ledger.reconcile("B1")
    assert (result.in_process, result.unused, result.received) == (2, 3, 5)
    assert result.balanced


def test_encoded_serials_in_a_closed_batch_unbalance_it(ledger: Ledger, ledger_path: Path) -> None:
    items = new_batch(ledger, n=3)
    ledger.close_work_order("B1", actor="alice")
    conn = sqlite3.connect(ledger_path, isolation_level=None)  # behind the ledger's back
    conn.execute("UPDATE serials SET state = 4 WHERE serial = ?", (items[0],))
    conn.close()
    result = ledger.reconcile("B1")
    assert not result.balanced
    assert any("still Encoded in a closed batch" in p for p in result.problems)
    assert "balanced: NO" in result.to_table()


def test_a_serial_without_an_import_record_unbalances_the_batch(
    ledger: Ledger, ledger_path: Path
) -> None:
    new_batch(ledger, n=3)
    conn = sqlite3.connect(ledger_path, isolation_level=None)
    conn.execute(
        "INSERT INTO serials (gtin, serial, batch, state, updated_at) "
        "VALUES (?, 'GHOST', 'B1', 7, 'x')",
        (GTIN,),
    )
    conn.close()
    result = ledger.reconcile("B1")
    assert result.received == 3
    assert result.commissioned == 0
    assert not result.balanced
    assert any("GHOST" in p for p in result.problems)
