"""The resolver's pure parts: what events change, the verdict, the alert rules, product data."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from linectl.resolver.config import RulesSection
from linectl.resolver.feed import Commission, Pack, StatusChange, UnpackAll, changes_of
from linectl.resolver.model import LotRecord, Product, SerialRecord
from linectl.resolver.products import ProductDataError, products_from_csv, products_from_json
from linectl.resolver.rules import alerts_for
from linectl.resolver.verdict import Verdict, verify
from standards.epcis.events import (
    decommissioning_event,
    packing_event,
    sampling_event,
    unpacking_event,
)
from standards.gs1.epc import sgtin_dl, sscc_urn
from tests.resolver.kit import GTIN, LOT, READ_POINT, commissioning, epc

AT = datetime(2026, 11, 3, 8, 0, tzinfo=UTC)
CASE = sscc_urn("009506000000000026", 7)
TODAY = date(2026, 12, 4)


def record(**changes: object) -> SerialRecord:
    base = dict(gtin=GTIN, serial="S1", lot=LOT, expiry="2028-11-30", status="commissioned",
                status_detail=None, status_ms=0, parent=None, commissioned_ms=0, scan_count=0,
                first_scan_ms=None, first_scan_country=None)  # fmt: skip
    return SerialRecord(**(base | changes))  # type: ignore[arg-type]


def test_commissioning_gives_each_serial_with_its_lot_and_expiry() -> None:
    changes = changes_of(commissioning(["A", "B"]))
    assert [c.serial for c in changes if isinstance(c, Commission)] == ["A", "B"]
    assert all(
        isinstance(c, Commission) and c.lot == LOT and c.expiry == "2028-11-30" for c in changes
    )


def test_digital_link_identifiers_are_read_like_urns() -> None:
    event = commissioning(["A"])
    event["epcList"] = [sgtin_dl(GTIN, "A")]
    (change,) = changes_of(event)
    assert isinstance(change, Commission) and (change.gtin, change.serial) == (GTIN, "A")


def test_packing_unpacking_and_end_of_life_events() -> None:
    packed = changes_of(packing_event(CASE, [epc("A")], event_time=AT, read_point=READ_POINT))
    assert packed == [Pack(packed[0].child, "009506000000000026", packed[0].at_ms)]  # type: ignore[union-attr]
    emptied = changes_of(unpacking_event(CASE, event_time=AT, read_point=READ_POINT))
    assert isinstance(emptied[0], UnpackAll)
    ended = changes_of(decommissioning_event([epc("A")], event_time=AT, read_point=READ_POINT))
    assert isinstance(ended[0], StatusChange) and ended[0].status == "decommissioned"
    sampled = changes_of(sampling_event([epc("A")], event_time=AT, read_point=READ_POINT))
    assert isinstance(sampled[0], StatusChange) and sampled[0].status == "sampled"


@pytest.mark.parametrize(
    ("rec", "lot", "verdict"),
    [
        (None, None, Verdict.UNKNOWN),
        (record(), None, Verdict.GENUINE),
        (record(scan_count=2), None, Verdict.SCANNED_BEFORE),
        (record(expiry="2026-12-03"), None, Verdict.EXPIRED),
        (record(status="destroyed"), None, Verdict.DESTROYED),
        (record(status="sampled"), None, Verdict.DESTROYED),
        (record(status="decommissioned"), None, Verdict.DECOMMISSIONED),
        (
            record(status="destroyed"),
            LotRecord(GTIN, LOT, None, True, "mix-up", 1),
            Verdict.RECALLED,
        ),
    ],
)
def test_the_verdict_follows_its_precedence(
    rec: SerialRecord | None, lot: LotRecord | None, verdict: Verdict
) -> None:
    assert verify(GTIN, "S1", LOT, rec, lot, TODAY).verdict is verdict


def test_the_rules_raise_each_kind_when_it_applies() -> None:
    rules = RulesSection(max_scans=2)
    product = Product(GTIN, {"en": "x"}, target_markets=("DE",))
    often = verify(GTIN, "S1", LOT, record(scan_count=2), None, TODAY)
    kinds = {a.kind for a in alerts_for(rules, often, "FR", product, ["DE"])}
    assert kinds == {"too-many-scans", "several-countries", "diversion"}
    first = verify(GTIN, "S1", LOT, record(), None, TODAY)
    assert alerts_for(rules, first, "DE", product, []) == []
    fake = verify(GTIN, "S9", LOT, None, None, TODAY)
    assert [a.kind for a in alerts_for(rules, fake, None, product, [])] == ["counterfeit-suspect"]
    quiet = RulesSection(unknown_serial=False, diversion=False)
    assert alerts_for(quiet, fake, "US", product, []) == []


def test_product_data_from_csv_merges_languages_and_bad_data_is_named() -> None:
    text = (
        "gtin,language,name,pip,target_markets\n"
        f"{GTIN},en,Tablets,https://b.example/en,DE AT\n"
        f"{GTIN},de,Tabletten,https://b.example/de,\n"
    )
    (product,) = products_from_csv(text)
    assert product.names == {"en": "Tablets", "de": "Tabletten"}
    assert product.links["gs1:pip"]["de"] == "https://b.example/de"
    assert product.target_markets == ("AT", "DE")
    with pytest.raises(ProductDataError, match=r"products\[0\]: gtin: .*check digit"):
        products_from_json('{"products": [{"gtin": "09506000134353", "names": {"en": "x"}}]}')
    with pytest.raises(ProductDataError, match="target market 'Germany'"):
        products_from_json(
            f'{{"products": [{{"gtin": "{GTIN}", "names": {{"en": "x"}}, '
            '"target_markets": ["Germany"]}]}'
        )
