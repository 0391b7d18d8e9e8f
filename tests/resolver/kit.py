"""What the resolver tests share: a product, events and documents, the config, an HTTP client."""

from __future__ import annotations

import hashlib
import json
import secrets
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import aiohttp

from linectl.resolver.app import RunningResolver, running
from linectl.resolver.config import ResolverConfig, hash_password, load_resolver_config
from linectl.resolver.products import products_from_json
from standards.epcis.document import epcis_document
from standards.epcis.events import commissioning_event
from standards.gs1.checkdigit import check_digit
from standards.gs1.epc import sgtin_urn

GTIN = "0950600013435" + check_digit("0950600013435")
LOT = "L2611A"
EXPIRY = date(2028, 11, 30)
CAPTURE_TOKEN = "capture-token-for-tests"
PARTNER_TOKEN = "pharmacy-token-for-tests"
OTHER_PARTNER_TOKEN = "wholesaler-token-for-tests"
BRAND_PASSWORD = "correct horse battery staple"
READ_POINT = "urn:epc:id:sgln:0950600.01343.1"
PRODUCTS = {
    "products": [
        {
            "gtin": GTIN,
            "names": {"en": "Ibuprofen 400 mg, 20 tablets", "de": "Ibuprofen 400 mg, 20 Tabletten"},
            "links": {
                "gs1:pip": {
                    "en": "https://brand.example.com/en/ibuprofen",
                    "de": "https://brand.example.com/de/ibuprofen",
                },
                "gs1:epil": {"en": "https://brand.example.com/en/ibuprofen/leaflet.pdf"},
            },
            "target_markets": ["DE", "AT"],
        }
    ]
}


def epc(serial: str) -> str:
    return sgtin_urn(GTIN, serial, 7)


def dl(base: str, serial: str, lot: str | None = LOT) -> str:
    lot_part = f"/10/{lot}" if lot else ""
    return f"{base}/01/{GTIN}{lot_part}/21/{serial}"


def commissioning(serials: list[str], *, lot: str = LOT, expiry: date = EXPIRY) -> dict[str, Any]:
    return commissioning_event(
        [epc(s) for s in serials],
        event_time=datetime(2026, 11, 2, 8, 0, tzinfo=UTC),
        read_point=READ_POINT,
        lot=lot,
        expiry=expiry,
    )


def document(*events: dict[str, Any]) -> dict[str, Any]:
    return epcis_document(list(events), creation_date=datetime(2026, 11, 2, 9, 0, tzinfo=UTC))


def write_config(
    tmp_path: Path, database_url: str, standards: Path, *, webhooks: str = "", rules: str = ""
) -> Path:
    key = tmp_path / "session.key"
    key.write_text(secrets.token_hex(32))
    sha = hashlib.sha256
    password_hash = hash_password(BRAND_PASSWORD, salt=b"0123456789abcdef")
    path = tmp_path / "resolver.toml"
    path.write_text(
        f"""
[resolver]
listen_host = "127.0.0.1"
listen_port = 0
public_url = "http://id.example.test"
database = "{database_url}"
epcis_schema = "{standards / "epcis" / "EPCIS-JSON-Schema.json"}"
capture_tokens_sha256 = ["{sha(CAPTURE_TOKEN.encode()).hexdigest()}"]
session_key_file = "{key}"
country_header = "X-Client-Country"
pool_size = 2
webhook_poll_s = 0.5

[rules]
{rules}

[[partners]]
name = "pharmacy-1"
token_sha256 = "{sha(PARTNER_TOKEN.encode()).hexdigest()}"
may = ["dispensed", "destroyed"]

[[partners]]
name = "wholesaler-1"
token_sha256 = "{sha(OTHER_PARTNER_TOKEN.encode()).hexdigest()}"
may = ["exported", "dispensed"]

[[brand_users]]
name = "brand"
password_hash = "{password_hash}"
{webhooks}
"""
    )
    return path


@dataclass
class Client:
    """The resolver under test, over HTTP: its base URL and a session (no redirects followed)."""

    resolver: RunningResolver
    session: aiohttp.ClientSession
    config: ResolverConfig
    public: str = "http://id.example.test"
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def base(self) -> str:
        return self.resolver.base_url

    def local(self, uri: str) -> str:
        """A public Digital Link turned into a URL of the resolver under test."""
        return uri.replace(self.public, self.base, 1)

    async def capture(self, doc: dict[str, Any], token: str = CAPTURE_TOKEN) -> dict[str, Any]:
        headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/ld+json"}
        async with self.session.post(
            f"{self.base}/capture", data=json.dumps(doc), headers=headers
        ) as r:
            assert r.status == 202, await r.text()
            location = r.headers["Location"]
        async with self.session.get(self.base + location, headers=headers) as r:
            job: dict[str, Any] = await r.json()
        return job

    async def verify(self, serial: str, *, country: str | None = None, lot: str | None = LOT,
                     lang: str = "en") -> dict[str, Any]:  # fmt: skip
        params = {"code": dl(self.public, serial, lot), "lang": lang}
        if country:
            params["country"] = country
        async with self.session.get(f"{self.base}/api/v1/verify", params=params) as r:
            assert r.status == 200, await r.text()
            body: dict[str, Any] = await r.json()
        return body


async def start_client(config_path: Path) -> tuple[Any, Client]:
    config = load_resolver_config(config_path)
    context = running(config)
    resolver = await context.__aenter__()
    session = aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True))  # 127.0.0.1
    client = Client(resolver, session, config)
    async with session.get(f"{client.base}/.well-known/gs1resolver") as r:
        assert r.status == 200
    await resolver.services.store.upsert_products(
        products_from_json(json.dumps(PRODUCTS)),
        resolver.services.now_ms(),
    )
    return context, client
