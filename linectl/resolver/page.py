"""The verification page: one Jinja2 template, Babel message catalogues per language.

The catalogues (``locale/{lang}/LC_MESSAGES/resolver.po``) are compiled in memory when the
resolver starts; dates and country names come from Babel's CLDR data in the page's language.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path

import jinja2
from babel import Locale
from babel.dates import format_date
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.support import Translations

from linectl.resolver.model import Product
from linectl.resolver.verdict import Verdict, Verification

HERE = Path(__file__).parent
LOCALE_DIR = HERE / "locale"
TONES = {
    Verdict.GENUINE: "ok",
    Verdict.SCANNED_BEFORE: "warn",
    Verdict.UNKNOWN: "alert",
    Verdict.RECALLED: "alert",
    Verdict.DECOMMISSIONED: "alert",
    Verdict.DESTROYED: "alert",
    Verdict.EXPIRED: "alert",
}


def load_translations(language: str) -> Translations:
    """The compiled catalogue of ``language`` (read from its .po file)."""
    path = LOCALE_DIR / language / "LC_MESSAGES" / "resolver.po"
    with path.open("rb") as handle:
        catalog = read_po(handle, locale=language)
    buffer = io.BytesIO()
    write_mo(buffer, catalog)
    buffer.seek(0)
    return Translations(fp=buffer, domain="resolver")


@dataclass
class PageRenderer:
    """One Jinja2 environment per language, with that language's catalogue installed."""

    languages: list[str]

    def __post_init__(self) -> None:
        self._envs: dict[str, jinja2.Environment] = {}
        self._translations: dict[str, Translations] = {}
        for language in self.languages:
            env = jinja2.Environment(
                loader=jinja2.FileSystemLoader(HERE / "templates"),
                autoescape=True,
                extensions=["jinja2.ext.i18n"],
            )
            translations = load_translations(language)
            env.install_gettext_translations(translations, newstyle=True)  # type: ignore[attr-defined]
            self._envs[language] = env
            self._translations[language] = translations

    def gettext(self, language: str, message: str) -> str:
        return str(self._translations[language].gettext(message))

    def render(
        self, language: str, result: Verification, product: Product, default_language: str
    ) -> str:
        locale = Locale.parse(language)
        first_date = first_country = ""
        if result.first_scan_ms is not None:
            moment = datetime.fromtimestamp(result.first_scan_ms / 1000, UTC).date()
            first_date = format_date(moment, format="long", locale=locale)
        if result.first_scan_country:
            first_country = locale.territories.get(
                result.first_scan_country, result.first_scan_country
            )
        else:
            first_country = self.gettext(language, "an unknown country")
        expiry_date = ""
        if result.expiry:
            expiry_date = format_date(date.fromisoformat(result.expiry), "long", locale=locale)
        reason = result.recall_reason or result.detail or self.gettext(language, "no reason given")
        if result.verdict in (Verdict.DECOMMISSIONED, Verdict.DESTROYED):
            reason = self.gettext(language, result.detail or "no reason given")
        links = product.links
        template = self._envs[language].get_template("verify.html")
        return template.render(
            lang=language,
            tone=TONES[result.verdict],
            verdict=result.verdict.value,
            product_name=product.name(language, default_language),
            gtin=result.gtin,
            lot=result.lot,
            serial=result.serial,
            expiry_date=expiry_date,
            previous=result.previous_scans,
            first_date=first_date,
            first_country=first_country,
            reason=reason,
            pip=_in(links.get("gs1:pip", {}), language, default_language),
            epil=_in(links.get("gs1:epil", {}), language, default_language),
            languages=[
                (code, Locale.parse(code).get_display_name(code)) for code in self.languages
            ],
        )


def _in(by_language: dict[str, str], language: str, fallback: str) -> str | None:
    return (
        by_language.get(language)
        or by_language.get(fallback)
        or next(iter(by_language.values()), None)
    )
