"""GS1 Digital Link resolution: 307 per linkType and language, linksets, 404s and 400s.

Every Digital Link the resolver accepts or emits is also checked with digital-link.js (npm), and
every linkset against GS1's linkset schema from ../shared/standards/gs1-linkset.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from standards.gs1.checkdigit import check_digit
from tests.resolver.digital_link_js import DigitalLinkJs
from tests.resolver.kit import GTIN, LOT, Client, commissioning, document

PACK = f"/01/{GTIN}/10/{LOT}/21/S1"


@pytest.fixture(scope="module")
def linkset_schema(standards: Path) -> dict[str, Any]:
    schema: dict[str, Any] = json.loads(
        (standards / "gs1-linkset" / "gs1-linkset-schema.json").read_text()
    )
    return schema


async def _get(client: Client, path: str, **headers: str) -> tuple[int, dict[str, str], str]:
    async with client.session.get(client.base + path, headers=headers, allow_redirects=False) as r:
        return r.status, dict(r.headers), await r.text()


async def test_link_types_redirect_with_307_in_the_asked_language(
    resolver: Client, digital_link_js: DigitalLinkJs
) -> None:
    await resolver.capture(document(commissioning(["S1"])))
    status, headers, _ = await _get(
        resolver, PACK + "?linkType=gs1:pip", **{"Accept-Language": "de-DE,de;q=0.9,en;q=0.5"}
    )
    assert status == 307 and headers["Location"] == "https://brand.example.com/de/ibuprofen"
    status, headers, _ = await _get(resolver, PACK + "?linkType=https://gs1.org/voc/epil")
    assert status == 307 and headers["Location"].endswith("/en/ibuprofen/leaflet.pdf")
    status, headers, _ = await _get(resolver, PACK, **{"Accept-Language": "fr"})
    verification = headers["Location"]
    assert status == 307
    assert verification == f"{resolver.public}/verify{PACK}?lang=fr"
    status, headers, _ = await _get(resolver, PACK + "?linkType=gs1:recallStatus")
    recall = headers["Location"]
    async with resolver.session.get(resolver.local(recall)) as r:
        assert (await r.json())["recalled"] is False
    accepted = [resolver.public + PACK, f"{resolver.public}/01/{GTIN}/10/{LOT}/21/S1?17=281130"]
    assert digital_link_js.valid([*accepted, verification, recall]) == [True] * 4


async def test_linksets_validate_against_the_gs1_linkset_schema(
    resolver: Client, linkset_schema: dict[str, Any], digital_link_js: DigitalLinkJs
) -> None:
    await resolver.capture(document(commissioning(["S1"])))
    status, headers, text = await _get(resolver, PACK + "?linkType=all")
    assert status == 200 and headers["Content-Type"].startswith("application/linkset+json")
    linkset = json.loads(text)
    jsonschema.validate(linkset, linkset_schema)
    entry = linkset["linkset"][0]
    assert entry["anchor"] == resolver.public + PACK
    types = {key.rpartition("/")[2] for key in entry if key.startswith("https://gs1.org/voc/")}
    assert types == {"defaultLink", "pip", "epil", "verificationService", "recallStatus"}
    by_accept = json.loads(
        (await _get(resolver, f"/01/{GTIN}", Accept="application/linkset+json"))[2]
    )
    jsonschema.validate(by_accept, linkset_schema)
    emitted = [entry["anchor"]] + [
        link["href"]
        for key in ("https://gs1.org/voc/verificationService", "https://gs1.org/voc/recallStatus")
        for link in entry[key]
    ]
    assert all(digital_link_js.valid(emitted)), emitted


@pytest.mark.parametrize(
    ("path", "named"),
    [
        (f"/01/{GTIN[:-1]}3/21/S1", "check digit"),
        (f"/01/{GTIN}/99/12", "AI (99) is not a key qualifier"),
        (f"/01/{GTIN}/21/S1/10/{LOT}", "out of order"),
        (f"/01/{GTIN}/21/S1?17=281331", "month 13"),
        (f"/01/{GTIN}/21/S%20", "CSET 82"),
    ],
)
async def test_a_malformed_digital_link_is_a_400_naming_the_problem(
    resolver: Client, digital_link_js: DigitalLinkJs, path: str, named: str
) -> None:
    status, headers, text = await _get(resolver, path)
    assert status == 400, text
    assert headers["Content-Type"].startswith("application/problem+json")
    assert named in json.loads(text)["detail"]
    if "17=" not in path:  # digital-link.js does not check data attribute values
        assert digital_link_js.valid([resolver.public + path]) == [False]


async def test_an_unknown_gtin_is_a_404_and_the_resolver_describes_itself(resolver: Client) -> None:
    unknown = "0950600099999" + check_digit("0950600099999")
    status, _, text = await _get(resolver, f"/01/{unknown}/21/S1")
    assert status == 404 and unknown in text
    status, _, text = await _get(resolver, "/.well-known/gs1resolver")
    described = json.loads(text)
    assert status == 200 and described["resolverRoot"] == resolver.public
    assert described["supportedPrimaryKeys"] == ["01"]
