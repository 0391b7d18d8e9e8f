"""Product master data: imported from CSV or JSON whole or not at all, each bad field named by its
row; a work order for a product the master data does not hold is refused and nothing is created."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from linectl.ledger import (
    MIGRATIONS,
    Ledger,
    UnknownProduct,
    ValidationError,
    WorkOrderStatus,
)
from linectl.ledger.product_file import ProductFileError, read_product_file
from tests.ledger.conftest import GTIN, OTHER_GTIN, dump

CSV = f"""gtin,name,market,code_profile,label_layout
{GTIN},Paracetamol 500 mg 20 tablets,DE,eu-fmd,carton-80x40
{GTIN},Paracetamol 500 mg 20 comprimés,FR,fr-cip,carton-80x40
"""

ORDER: dict[str, Any] = {
    "batch": "PO-7",
    "gtin": GTIN,
    "lot": "LOT42",
    "expiry": "270200",
    "quantity": 500,
    "target_market": "DE",
    "actor": "mes",
}


def _import(ledger: Ledger, path: Path, text: str) -> Any:
    path.write_text(text, encoding="utf-8")
    return ledger.products.import_records(
        read_product_file(path), actor="sv.sam", source=path.name, reason="master data v1"
    )


def test_products_from_csv_are_stored_and_audited(ledger: Ledger, tmp_path: Path) -> None:
    result = _import(ledger, tmp_path / "products.csv", CSV)
    assert (result.added, result.changed, result.unchanged) == (2, 0, 0)
    assert [(p.gtin, p.market, p.code_profile) for p in ledger.products.all()] == [
        (GTIN, "DE", "eu-fmd"),
        (GTIN, "FR", "fr-cip"),
    ]
    (entry,) = [e for e in ledger.audit_entries(limit=100) if e.command == "products.import"]
    assert entry.actor == "sv.sam" and entry.reason == "master data v1"
    assert json.loads(entry.after)["added"]["count"] == 2


def test_a_second_import_replaces_a_changed_product_and_keeps_the_rest(
    ledger: Ledger, tmp_path: Path
) -> None:
    _import(ledger, tmp_path / "v1.csv", CSV)
    v2 = CSV.replace("carton-80x40\n", "carton-90x40\n", 1)
    result = _import(ledger, tmp_path / "v2.csv", v2)
    assert (result.added, result.changed, result.unchanged) == (0, 1, 1)
    de = [p for p in ledger.products.of_gtin(GTIN) if p.market == "DE"]
    assert de[0].label_layout == "carton-90x40"


def test_products_from_json_are_the_same_as_from_csv(ledger: Ledger, tmp_path: Path) -> None:
    doc = {
        "products": [
            {"gtin": OTHER_GTIN, "name": "Ibuprofen 400", "market": "IT",
             "code_profile": "it-aic", "label_layout": "carton-60x30"},
        ]
    }  # fmt: skip
    _import(ledger, tmp_path / "products.json", json.dumps(doc))
    (product,) = ledger.products.all()
    assert (product.gtin, product.market, product.name) == (OTHER_GTIN, "IT", "Ibuprofen 400")


def test_a_file_with_bad_rows_is_refused_whole_naming_each_row_and_field(
    ledger: Ledger, tmp_path: Path
) -> None:
    bad_gtin = GTIN[:-1] + str((int(GTIN[-1]) + 1) % 10)
    text = CSV + f"{bad_gtin},Wrong,DE,eu-fmd,carton\n{OTHER_GTIN},Bad market,Germany,eu-fmd,x\n"
    before = dump(ledger.path)
    with pytest.raises(ValidationError) as caught:
        _import(ledger, tmp_path / "products.csv", text)
    message = str(caught.value)
    assert "row 3 (line 4): gtin" in message and bad_gtin in message
    assert "row 4 (line 5): market 'Germany'" in message
    assert dump(ledger.path) == before


def test_a_product_given_twice_is_named_with_both_rows(ledger: Ledger, tmp_path: Path) -> None:
    text = CSV + f"{GTIN},Again,DE,eu-fmd,carton\n"
    with pytest.raises(ValidationError, match=r"row 3 \(line 4\).*given twice \(also row 1"):
        _import(ledger, tmp_path / "products.csv", text)


def test_a_json_product_with_an_unknown_field_is_refused_naming_it(tmp_path: Path) -> None:
    path = tmp_path / "p.json"
    path.write_text(json.dumps([{"gtin": GTIN, "nmae": "typo"}]), encoding="utf-8")
    with pytest.raises(ProductFileError, match=r"row 1: unknown field 'nmae'"):
        read_product_file(path)


def test_a_csv_without_a_needed_column_is_refused_naming_it(tmp_path: Path) -> None:
    path = tmp_path / "p.csv"
    path.write_text("gtin,name,market,code_profile\n", encoding="utf-8")
    with pytest.raises(ProductFileError, match="column 'label_layout' is missing"):
        read_product_file(path)


def test_a_work_order_for_an_unknown_product_is_refused_and_nothing_is_created(
    ledger: Ledger, tmp_path: Path
) -> None:
    _import(ledger, tmp_path / "products.csv", CSV)
    before = dump(ledger.path)
    with pytest.raises(UnknownProduct) as caught:
        ledger.create_work_order(**(ORDER | {"gtin": OTHER_GTIN}))
    assert caught.value.field == "gtin"
    with pytest.raises(UnknownProduct, match="made for DE, FR only") as caught:
        ledger.create_work_order(**(ORDER | {"target_market": "IT"}))
    assert caught.value.field == "market"
    assert dump(ledger.path) == before


def test_a_work_order_for_a_known_product_is_created(ledger: Ledger, tmp_path: Path) -> None:
    _import(ledger, tmp_path / "products.csv", CSV)
    order = ledger.create_work_order(**ORDER)
    assert order.status is WorkOrderStatus.CREATED


def test_without_product_data_a_work_order_needs_a_product_only_when_asked(
    ledger: Ledger,
) -> None:
    with pytest.raises(UnknownProduct):
        ledger.create_work_order(**ORDER, require_product=True)
    assert ledger.create_work_order(**ORDER).batch == "PO-7"


def test_a_version_6_ledger_gains_the_products_table(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    with Ledger(path, migrations=MIGRATIONS[:6]) as old:
        assert old.schema_version == 6
    before = dump(path)
    with Ledger(path, migrations=MIGRATIONS[:7]) as ledger:
        assert (ledger.migrated_from, ledger.schema_version) == (6, 7)
        assert ledger.products.all() == []
    after = dump(path)
    assert after.pop("products") == [] and after.pop("user_version") == [(7,)]
    before.pop("user_version")
    assert after == before
