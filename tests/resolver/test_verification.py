"""Capture feeds the status model; the verification API gives each pack its verdict."""

from __future__ import annotations

from datetime import UTC, date, datetime

from standards.epcis.events import (
    decommissioning_event,
    destroying_event,
    packing_event,
    with_event_id,
)
from standards.gs1.checkdigit import make_sscc
from standards.gs1.epc import sscc_urn
from tests.resolver.kit import (
    GTIN,
    LOT,
    PARTNER_TOKEN,
    READ_POINT,
    Client,
    commissioning,
    document,
    epc,
)

AT = datetime(2026, 11, 3, 8, 0, tzinfo=UTC)
WHOLESALER = "urn:epc:id:pgln:0950600.00002"


async def test_a_commissioned_pack_is_genuine_on_its_first_scan_and_a_warning_after(
    resolver: Client,
) -> None:
    job = await resolver.capture(document(commissioning(["S1", "S2"])))
    assert job["success"] is True and job["running"] is False
    first = await resolver.verify("S1", country="DE")
    assert first["verdict"] == "genuine" and first["genuine"] is True
    assert first["previous_scans"] == 0
    second = await resolver.verify("S1", country="DE")
    assert second["verdict"] == "scanned-before" and second["genuine"] is True
    assert second["previous_scans"] == 1 and second["first_scan_country"] == "DE"


async def test_a_made_up_serial_is_unknown_and_raises_a_counterfeit_alert(resolver: Client) -> None:
    await resolver.capture(document(commissioning(["S1"])))
    result = await resolver.verify("NOPE123", country="DE")
    assert result["verdict"] == "unknown" and result["genuine"] is False
    assert result["alerts"] == ["counterfeit-suspect"]


async def test_a_pack_with_the_wrong_lot_printed_is_not_genuine(resolver: Client) -> None:
    await resolver.capture(document(commissioning(["S1"])))
    result = await resolver.verify("S1", lot="OTHERLOT")
    assert result["verdict"] == "unknown"


async def test_recapturing_the_same_events_changes_nothing(resolver: Client) -> None:
    doc = document(commissioning(["S1"]))
    await resolver.capture(doc)
    await resolver.verify("S1")
    job = await resolver.capture(doc)  # sent again: the event hash makes it a duplicate
    assert job["success"] is True
    assert (await resolver.verify("S1"))["previous_scans"] == 1


async def test_decommissioned_destroyed_and_expired_packs_are_not_genuine(resolver: Client) -> None:
    await resolver.capture(
        document(
            commissioning(["D1", "D2"]),
            commissioning(["OLD1"], lot="L2001", expiry=date(2020, 1, 31)),
            decommissioning_event([epc("D1")], event_time=AT, read_point=READ_POINT),
            destroying_event([epc("D2")], event_time=AT, read_point=READ_POINT),
        )
    )
    assert (await resolver.verify("D1"))["verdict"] == "decommissioned"
    assert (await resolver.verify("D2"))["verdict"] == "destroyed"
    assert (await resolver.verify("OLD1", lot="L2001"))["verdict"] == "expired"


async def test_a_recall_shows_on_the_very_next_scan(resolver: Client) -> None:
    await resolver.capture(document(commissioning(["R1"])))
    assert (await resolver.verify("R1"))["verdict"] == "genuine"
    store = resolver.resolver.services.store
    await store.recall(GTIN, LOT, "contamination", resolver.resolver.services.now_ms())
    result = await resolver.verify("R1", country="DE")
    assert result["verdict"] == "recalled" and result["recall_reason"] == "contamination"
    assert "recalled-lot" in result["alerts"]


async def test_a_scan_outside_the_target_markets_raises_a_diversion_alert(resolver: Client) -> None:
    await resolver.capture(document(commissioning(["X1"])))
    result = await resolver.verify("X1", country="US")
    assert result["genuine"] is True and result["alerts"] == ["diversion"]
    again = await resolver.verify("X1", country="US")
    assert "diversion" not in again["alerts"]  # one open alert per serial and country
    kinds = [a.kind for a in await resolver.resolver.services.store.alerts()]
    assert kinds.count("diversion") == 1 and "several-countries" not in kinds


async def test_packing_and_shipping_reach_the_serial(resolver: Client) -> None:
    case, pallet = make_sscc(0, "0950600", 1), make_sscc(0, "0950600", 2)
    shipping = with_event_id(
        {
            "type": "ObjectEvent",
            "eventTime": "2026-11-04T08:00:00.000Z",
            "eventTimeZoneOffset": "+00:00",
            "epcList": [sscc_urn(pallet, 7)],
            "action": "OBSERVE",
            "bizStep": "shipping",
            "disposition": "in_transit",
            "readPoint": {"id": READ_POINT},
            "destinationList": [{"type": "owning_party", "destination": WHOLESALER}],
        }
    )
    await resolver.capture(
        document(
            commissioning(["P1"]),
            packing_event(sscc_urn(case, 7), [epc("P1")], event_time=AT, read_point=READ_POINT),
            packing_event(
                sscc_urn(pallet, 7), [sscc_urn(case, 7)], event_time=AT, read_point=READ_POINT
            ),
            shipping,
        )
    )
    record = await resolver.resolver.services.store.serial(GTIN, "P1")
    assert record is not None and record.parent == case and record.lot == LOT
    assert record.pallet == pallet and record.shipped_to == WHOLESALER
    answer = await resolver.verify("P1")
    assert answer["container"] == pallet and answer["shipped_to"] == WHOLESALER
    assert answer["status"] == "commissioned" and answer["verdict"] == "genuine"


async def test_a_partner_decommissions_and_may_undo_within_the_rules(resolver: Client) -> None:
    await resolver.capture(document(commissioning(["Q1", "Q2"])))
    code = f"{resolver.public}/01/{GTIN}/10/{LOT}/21/Q1"
    url = f"{resolver.base}/api/v1/decommission"
    auth = {"Authorization": f"Bearer {PARTNER_TOKEN}"}
    async with resolver.session.post(url, json={"code": code, "reason": "dispensed"}) as r:
        assert r.status == 401
    async with resolver.session.post(url, data=b"[" * 30_000 + b"]" * 30_000, headers=auth) as r:
        assert r.status == 400 and "nested too deeply" in (await r.json())["detail"]
    async with resolver.session.post(
        url, json={"code": code, "reason": "exported"}, headers=auth
    ) as r:
        assert r.status == 403
    async with resolver.session.post(
        url, json={"code": code, "reason": "dispensed"}, headers=auth
    ) as r:
        assert r.status == 200 and (await r.json())["status"] == "decommissioned"
    assert (await resolver.verify("Q1"))["verdict"] == "decommissioned"
    async with resolver.session.post(
        url, json={"code": code, "reason": "dispensed"}, headers=auth
    ) as r:
        assert r.status == 409 and "already decommissioned" in (await r.json())["detail"]
    async with resolver.session.post(url + "/undo", json={"code": code}, headers=auth) as r:
        assert r.status == 200 and (await r.json())["status"] == "commissioned"
    assert (await resolver.verify("Q1"))["genuine"] is True
    code2 = code.replace("/21/Q1", "/21/Q2")
    async with resolver.session.post(
        url, json={"code": code2, "reason": "destroyed"}, headers=auth
    ) as r:
        assert r.status == 200
    async with resolver.session.post(url + "/undo", json={"code": code2}, headers=auth) as r:
        assert r.status == 409 and "cannot be undone" in (await r.json())["detail"]


async def test_capture_needs_the_token_and_a_valid_document(resolver: Client) -> None:
    url = f"{resolver.base}/capture"
    doc = document(commissioning(["S1"]))
    async with resolver.session.post(url, json=doc) as r:
        assert r.status == 401
    headers = {"Authorization": "Bearer capture-token-for-tests"}
    broken = document(commissioning(["S1"]))
    broken["epcisBody"]["eventList"][0]["action"] = "EXPLODE"
    async with resolver.session.post(url, json=broken, headers=headers) as r:
        body = await r.json()
        assert r.status == 400 and "/epcisBody/eventList/0" in body["detail"]
    deep = b"[" * 30_000 + b"]" * 30_000  # JSON the decoder cannot follow: a 400, not a 500
    ld = headers | {"Content-Type": "application/ld+json"}
    async with resolver.session.post(url, data=deep, headers=ld) as r:
        assert r.status == 400 and "nested too deeply" in (await r.json())["detail"]
    async with resolver.session.options(url) as r:
        assert r.status == 204 and r.headers["GS1-EPCIS-Max"].startswith("2")
    job = await resolver.capture(doc)
    async with resolver.session.get(url, headers=headers) as r:
        assert [j["captureID"] for j in await r.json()] == [job["captureID"]]


async def test_a_printed_expiry_that_differs_from_the_commissioned_one_is_not_genuine(
    resolver: Client,
) -> None:
    await resolver.capture(document(commissioning(["E1", "E2"])))
    url = f"{resolver.base}/api/v1/verify"
    right = f"{resolver.public}/01/{GTIN}/10/{LOT}/21/E1?17=281130"
    wrong = f"{resolver.public}/01/{GTIN}/10/{LOT}/21/E2?17=291130"
    async with resolver.session.get(url, params={"code": right}) as r:
        assert (await r.json())["verdict"] == "genuine"
    async with resolver.session.get(url, params={"code": wrong}) as r:
        answer = await r.json()
        assert answer["verdict"] == "unknown" and "expiry 2029-11-30" in answer["detail"]
    path = f"/01/{GTIN}/10/{LOT}/21/E1?17=281130"
    async with resolver.session.get(resolver.base + path, allow_redirects=False) as r:
        assert r.status == 307 and r.headers["Location"].endswith("?lang=en&17=281130")
