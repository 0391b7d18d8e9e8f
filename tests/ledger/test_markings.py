"""A batch's market code profile and national numbers in the ledger (schema v7), and the serial
space of its GTIN."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest

from linectl.ledger import (
    MIGRATIONS,
    Ledger,
    LedgerError,
    ValidationError,
    WorkOrderCode,
    checked_code,
)
from tests.ledger.conftest import GTIN, new_batch

PZN = "12345678"


def create(ledger: Ledger, batch: str, code: WorkOrderCode | None) -> None:
    ledger.create_work_order(batch=batch, gtin=GTIN, lot="L1", expiry="281130", quantity=10,
                             target_market="DE", actor="tester", code=code)  # fmt: skip


def test_the_profile_and_pzn_are_stored_with_the_work_order_and_audited(ledger: Ledger) -> None:
    create(ledger, "B-DE", checked_code("de-pzn", {"710": PZN}))
    create(ledger, "B-OLD", None)
    assert ledger.markings.code_of("B-DE") == WorkOrderCode("de-pzn", {"710": PZN})
    assert ledger.markings.code_of("B-OLD") == WorkOrderCode()
    created = [e for e in ledger.audit_entries() if e.command == "work_order.create"]
    after = json.loads(created[0].after or "{}")
    assert (after["code_profile"], after["code_fields"]) == ("de-pzn", {"710": PZN})
    assert "code_profile" not in json.loads(created[1].after or "{}")


@pytest.mark.parametrize(
    ("profile", "fields", "field"),
    [
        ("DE_PZN", {}, "code_profile"),
        ("", {"710": PZN}, "code_profile"),
        ("de-pzn", {"21": "SN1"}, "code_fields"),
        ("de-pzn", {"999": "1"}, "code_fields"),
        ("de-pzn", {"710": "PZN 1"}, "code_fields.710"),
    ],
)
def test_bad_code_fields_are_refused_naming_the_field(
    profile: str, fields: dict[str, str], field: str
) -> None:
    with pytest.raises(ValidationError) as caught:
        checked_code(profile, fields)
    assert caught.value.field == field


def test_an_edited_code_row_is_refused_when_read(ledger: Ledger, ledger_path: Path) -> None:
    create(ledger, "B-DE", checked_code("de-pzn", {"710": PZN}))
    conn = sqlite3.connect(ledger_path)
    with conn:
        conn.execute('UPDATE work_order_codes SET code_fields = \'{"710":"87654321"}\'')
    conn.close()
    with pytest.raises(LedgerError, match="work_order_codes row of batch B-DE does not match"):
        ledger.markings.code_of("B-DE")


def test_the_serial_space_counts_and_finds_serials_of_the_gtin_in_every_batch(
    ledger: Ledger,
) -> None:
    first = new_batch(ledger, "B1", n=5)
    second = new_batch(ledger, "B2", n=3)
    assert ledger.markings.serial_count(GTIN) == 8
    wanted = [*first[:2], second[1], "NEW1"]
    assert ledger.markings.held(GTIN, wanted) == {*first[:2], second[1]}


def test_a_version_7_ledger_migrates_to_8_and_its_batches_have_no_profile(
    ledger_path: Path,
) -> None:
    with Ledger(ledger_path, migrations=MIGRATIONS[:7]) as old:
        assert old.schema_version == 7
    with Ledger(ledger_path) as ledger:
        assert ledger.migrated_from == 7
        create(ledger, "B-DE", checked_code("de-pzn", {"710": PZN}))
        assert ledger.markings.code_of("B-DE").code_fields == {"710": PZN}
