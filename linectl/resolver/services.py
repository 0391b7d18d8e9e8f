"""What every request handler of the resolver shares: config, store, schema check, the clock.

:meth:`Services.scan` is the one path from a scanned code to a verdict: look up, decide
(:mod:`linectl.resolver.verdict`), log, raise alerts (:mod:`linectl.resolver.rules`).
Workers hold no state of their own; everything lives in the store.
"""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any

from aiohttp import web

from linectl.resolver.config import ResolverConfig
from linectl.resolver.feed import iso_ms
from linectl.resolver.model import Alert, AlertDraft, LotRecord, Product, SerialRecord
from linectl.resolver.rules import alerts_for
from linectl.resolver.store import ScanRequest, Store
from linectl.resolver.verdict import Verification, verify
from standards.epcis.schema_check import SchemaChecker

PROBLEM = "application/problem+json"
_COUNTRY = re.compile(r"^[A-Za-z]{2}$")


def problem(
    status: int, kind: str, title: str, detail: str = "", headers: dict[str, str] | None = None
) -> web.Response:
    """An RFC 7807 problem details answer."""
    body: dict[str, Any] = {"type": kind, "title": title, "status": status}
    if detail:
        body["detail"] = detail
    return web.Response(
        status=status, text=json.dumps(body), content_type=PROBLEM, headers=headers or {}
    )


def _now_ms() -> int:
    return int(datetime.now(UTC).timestamp() * 1000)


@dataclass
class Services:
    config: ResolverConfig
    store: Store
    checker: SchemaChecker
    clock_ms: Callable[[], int] = _now_ms
    alert_raised: asyncio.Event = field(default_factory=asyncio.Event)

    def now_ms(self) -> int:
        return self.clock_ms()

    def iso(self, at_ms: int) -> str:
        return iso_ms(at_ms)

    def today(self) -> date:
        return datetime.fromtimestamp(self.now_ms() / 1000, UTC).date()

    async def check_schema(self, document: Any) -> tuple[str, str] | None:
        return await asyncio.to_thread(self.checker.first_error, document)

    # -- request context -------------------------------------------------------------------

    def language(self, request: web.Request) -> str:
        """``?lang=`` if offered, else the best match of Accept-Language, else the default."""
        offered = self.config.resolver.languages
        asked = request.query.get("lang", "").lower()
        if asked in offered:
            return asked
        return best_language(request.headers.get("Accept-Language", ""), offered) or (
            self.config.resolver.default_language
        )

    def country(self, request: web.Request) -> str | None:
        """The scanner's country: client-supplied ``?country=`` or the configured proxy header.

        The IP address is never looked at or stored.
        """
        for value in (
            request.query.get("country"),
            request.headers.get(self.config.resolver.country_header or "", None)
            if self.config.resolver.country_header
            else None,
        ):
            if value and _COUNTRY.match(value):
                return value.upper()
        return None

    # -- the scan --------------------------------------------------------------------------

    async def scan(
        self,
        gtin: str,
        serial: str | None,
        lot: str | None,
        *,
        country: str | None,
        language: str,
        source: str,
        expiry: date | None = None,
    ) -> tuple[Product, Verification, list[Alert]] | None:
        """The verdict of one scan, logged with its alerts; None for a GTIN without product data."""
        rules = self.config.rules
        today = self.today()

        def decide(record: SerialRecord | None, lot_record: LotRecord | None) -> Verification:
            return verify(gtin, serial, lot, record, lot_record, today, expiry)

        def raise_alerts(
            product: Product, result: Verification, countries: list[str]
        ) -> list[AlertDraft]:
            return alerts_for(rules, result, country, product, countries)

        def urls(draft: AlertDraft) -> list[str]:
            return [h.url for h in self.config.webhooks if not h.kinds or draft.kind in h.kinds]

        request = ScanRequest(self.now_ms(), gtin, serial, lot, country, language, source)
        window_ms = int(rules.country_window_h * 3_600_000)
        outcome = await self.store.scan(request, decide, raise_alerts, window_ms, urls)
        if outcome is not None and outcome[2]:
            self.alert_raised.set()
        return outcome


def best_language(header: str, offered: list[str]) -> str | None:
    """The offered language the Accept-Language header likes best (q-values honoured)."""
    choices: list[tuple[float, int, str]] = []
    for position, item in enumerate(header.split(",")):
        tag, _, params = item.strip().partition(";")
        quality = 1.0
        for param in params.split(";"):
            name, _, value = param.strip().partition("=")
            if name == "q":
                try:
                    quality = float(value)
                except ValueError:
                    quality = 0.0
        primary = tag.strip().lower().split("-")[0]
        if primary in offered and quality > 0:
            choices.append((-quality, position, primary))
    return min(choices)[2] if choices else None


SERVICES = web.AppKey("services", Services)
