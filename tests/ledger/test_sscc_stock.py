"""The SSCC stock in the ledger: durable, in arrival order, each SSCC handed out until used."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from linectl.config import SsccRange
from linectl.ledger import MIGRATIONS, SCHEMA_VERSION, ContainerLevel, Ledger, ValidationError
from tests.ledger.conftest import dump, new_batch, step_clock
from tests.ledger.test_tamper import flagged, line_for, shell, verify

RANGE = SsccRange("9506000", 0, 1, 99_999)
S = [RANGE.sscc(n) for n in range(1, 8)]


def test_added_ssccs_survive_a_reopen_in_the_order_they_came(ledger_path: Path) -> None:
    with Ledger(ledger_path, clock=step_clock()) as ledger:
        assert ledger.sscc_stock.add([S[2], S[0]], actor="pool") == [S[2], S[0]]
        assert ledger.sscc_stock.add([S[0], S[1], S[1]], actor="pool") == [S[1]]  # no repeats
    with Ledger(ledger_path) as reopened:
        assert reopened.sscc_stock.all() == [S[2], S[0], S[1]]
        assert reopened.sscc_stock.next_unused() == (1, S[2])


def test_a_bad_sscc_refuses_the_whole_block_naming_its_index(ledger: Ledger) -> None:
    bad = S[1][:-1] + str((int(S[1][-1]) + 1) % 10)
    with pytest.raises(ValidationError, match=r"sscc at index 1 .*check digit"):
        ledger.sscc_stock.add([S[0], bad, S[2]], actor="pool")
    assert ledger.sscc_stock.all() == []
    with pytest.raises(ValidationError, match="list of SSCCs"):
        ledger.sscc_stock.add(S[0], actor="pool")


def test_the_next_sscc_is_the_first_of_the_stock_no_container_carries(ledger: Ledger) -> None:
    new_batch(ledger)
    ledger.sscc_stock.add(S[:4], actor="pool")
    ledger.containers.create(S[0], ContainerLevel.CASE, actor="line", batch="B1")
    ledger.containers.create(S[2], ContainerLevel.CASE, actor="line", batch="B1")
    assert ledger.sscc_stock.next_unused() == (2, S[1])
    assert ledger.sscc_stock.next_unused(after=2) == (4, S[3])
    assert ledger.sscc_stock.unused() == 2
    ledger.containers.create(S[1], ContainerLevel.CASE, actor="line", batch="B1")
    ledger.containers.create(S[3], ContainerLevel.CASE, actor="line", batch="B1")
    assert ledger.sscc_stock.next_unused() is None
    assert ledger.sscc_stock.unused() == 0


def test_each_addition_is_an_audit_row_and_the_ledger_verifies(ledger: Ledger) -> None:
    ledger.sscc_stock.add(S[:3], actor="pool", reason="refill")
    ledger.sscc_stock.add(S[:3], actor="pool")  # nothing new: no audit row
    (entry,) = [e for e in ledger.audit_entries() if e.command == "sscc_stock.add"]
    assert (entry.actor, entry.reason) == ("pool", "refill")
    report = ledger.verify_audit()
    assert report.ok, report.problems
    assert report.tables["sscc_stock"] == 3


def test_the_ledger_refuses_a_foreign_event_in_the_stock_namespace(ledger: Ledger) -> None:
    with pytest.raises(ValidationError):
        ledger.record_event("x", "sscc_stock.add", reason="forged", after={})


def test_an_edited_stock_sscc_is_named(ledger_path: Path) -> None:
    with Ledger(ledger_path, clock=step_clock()) as ledger:
        ledger.sscc_stock.add(S[:3], actor="pool")
    with shell(ledger_path) as conn:
        conn.execute("UPDATE sscc_stock SET sscc = ? WHERE id = 2", (S[6],))
    report = verify(ledger_path)
    assert flagged(report) == {"sscc_stock"}
    assert line_for(report, "sscc_stock").startswith(f"sscc_stock row 2 ({S[6]}): row hash")


def test_a_deleted_stock_sscc_is_missing_against_the_audit_trail(ledger_path: Path) -> None:
    with Ledger(ledger_path, clock=step_clock()) as ledger:
        ledger.sscc_stock.add(S[:3], actor="pool")
    with shell(ledger_path) as conn:
        conn.execute("DELETE FROM sscc_stock WHERE id = 3")
    report = verify(ledger_path)
    assert "records 3 SSCCs stocked but the table holds 2 rows" in line_for(report, "sscc_stock")


IDENTITY_TABLES = (
    "users",
    "password_history",
    "sessions",
    "api_tokens",
    "signatures",
    "audit_keying",
    "audit_macs",
    "material_changes",  # schema 6: the batch record and dispatch, empty until used
    "shipments",
    "products",  # schema 7: product master data, empty until imported
    "work_order_codes",  # schema 8: market code profiles, empty until a batch names one
    "unit_tags",  # schema 9: RFID tags of units, empty until a line reads tags
    "nfc_tags",  # schema 10: NFC tag UIDs imported per unit, empty until an import
)


def test_a_version_3_ledger_migrates_forward_with_its_data_unchanged(ledger_path: Path) -> None:
    with Ledger(ledger_path, clock=step_clock(), migrations=MIGRATIONS[:3]) as old:
        assert old.schema_version == 3
        new_batch(old, n=5)
        old.containers.create(S[0], ContainerLevel.CASE, actor="line", batch="B1")
    before = dump(ledger_path)
    assert "sscc_stock" not in before
    with Ledger(ledger_path) as ledger:
        assert (ledger.migrated_from, ledger.schema_version) == (3, SCHEMA_VERSION)
        assert ledger.sscc_stock.all() == []
        assert ledger.verify_audit().ok
    after = dump(ledger_path)
    assert after.pop("sscc_stock") == []
    for table in IDENTITY_TABLES:  # schemas 5 to 7: empty until used
        assert after.pop(table) == []
    assert after.pop("user_version") == [(SCHEMA_VERSION,)]
    before.pop("user_version")
    assert after == before  # every other table exactly as it was
    conn = sqlite3.connect(ledger_path)
    try:
        columns = [r[1] for r in conn.execute("PRAGMA table_info(sscc_stock)")]
    finally:
        conn.close()
    assert columns == ["id", "sscc", "added_at", "row_hash"]
