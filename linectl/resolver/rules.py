"""The alert rules: which alerts one scan raises, from the verdict and the serial's recent scans.

| kind               | raised when                                                        |
|--------------------|--------------------------------------------------------------------|
| too-many-scans     | the serial has been scanned more than ``max_scans`` times          |
| several-countries  | it was scanned in two or more countries within ``country_window_h``|
| diversion          | it is scanned in a country outside the product's target markets    |
| counterfeit-suspect| the serial is unknown (never commissioned, made up, wrong lot)     |
| recalled-lot       | the scanned pack belongs to a recalled lot                         |

One alert stays open per kind and serial (or lot, for a recall; country, for a diversion): a
serial scanned a hundred times raises one ``too-many-scans`` alert, not ninety-five.
"""

from __future__ import annotations

from collections.abc import Collection

from linectl.resolver.config import RulesSection
from linectl.resolver.model import AlertDraft, Product
from linectl.resolver.verdict import Verdict, Verification

RULE_KINDS = (
    "too-many-scans",
    "several-countries",
    "diversion",
    "counterfeit-suspect",
    "recalled-lot",
)


def alerts_for(
    rules: RulesSection,
    result: Verification,
    country: str | None,
    product: Product | None,
    recent_countries: Collection[str],
) -> list[AlertDraft]:
    """The alerts raised by this scan (``recent_countries``: of this serial, within the window)."""
    gtin, lot, serial = result.gtin, result.lot, result.serial
    ident = f"{gtin}/{serial or '-'}"
    drafts: list[AlertDraft] = []

    def raise_(kind: str, detail: str, key: str) -> None:
        drafts.append(AlertDraft(kind, gtin, lot, serial, country, detail, f"{kind}:{key}"))

    if result.verdict is Verdict.UNKNOWN:
        if rules.unknown_serial:
            raise_("counterfeit-suspect", f"serial {serial or '-'}: {result.detail}", ident)
        return drafts
    scans = result.previous_scans + 1
    if scans > rules.max_scans:
        raise_("too-many-scans", f"scanned {scans} times (rule: at most {rules.max_scans})", ident)
    countries = set(recent_countries) | ({country} if country else set())
    if len(countries) >= 2:
        raise_(
            "several-countries",
            f"scanned in {', '.join(sorted(countries))} within {rules.country_window_h:g} h",
            ident,
        )
    if (
        rules.diversion
        and country
        and product is not None
        and product.target_markets
        and country not in product.target_markets
    ):
        markets = ", ".join(product.target_markets)
        raise_(
            "diversion", f"scanned in {country}; target markets: {markets}", f"{ident}/{country}"
        )
    if result.verdict is Verdict.RECALLED and rules.recalled_lot:
        raise_(
            "recalled-lot",
            f"scan of recalled lot {lot}: {result.recall_reason or ''}".rstrip(": "),
            f"{gtin}/{lot}/{serial or '-'}",
        )
    return drafts
