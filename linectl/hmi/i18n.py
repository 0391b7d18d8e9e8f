"""Languages of the HMI: English, German and French from gettext message catalogues (Babel).

The catalogues are the committed ``.po`` files under ``linectl/hmi/locale``; they are compiled
in memory when the HMI starts (no build step, nothing generated in the repository). Numbers and
dates are formatted for the user's locale with Babel (pages) and ``Intl`` (live updates).
"""

from __future__ import annotations

import io
from datetime import datetime
from pathlib import Path

from babel import Locale
from babel.dates import format_datetime
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.numbers import format_decimal, format_percent
from babel.support import NullTranslations, Translations

LANGUAGES: tuple[str, ...] = ("en", "de", "fr")
LOCALE_DIR = Path(__file__).parent / "locale"
DOMAIN = "messages"


def catalogue_path(language: str) -> Path:
    return LOCALE_DIR / language / "LC_MESSAGES" / f"{DOMAIN}.po"


def load_translations() -> dict[str, NullTranslations]:
    """Language -> its translations, compiled from the ``.po`` files.

    English has a catalogue too: some message ids are keys (``state:EXECUTE``), not English.
    """
    out: dict[str, NullTranslations] = {}
    for language in LANGUAGES:
        with catalogue_path(language).open("rb") as po:
            catalog = read_po(po, locale=language, domain=DOMAIN)
        buffer = io.BytesIO()
        write_mo(buffer, catalog, use_fuzzy=False)
        buffer.seek(0)
        out[language] = Translations(buffer, domain=DOMAIN)
    return out


def language_name(language: str) -> str:
    """The language's own name for itself (Deutsch, français)."""
    return str(Locale.parse(language).get_display_name(language)).capitalize()


def number(value: float | int | None, language: str, digits: int = 0) -> str:
    if value is None:
        return "–"
    return format_decimal(value, format=f"#,##0.{'0' * digits}" if digits else "#,##0",
                          locale=language)  # fmt: skip


def percent(value: float | None, language: str) -> str:
    if value is None:
        return "–"
    return format_percent(value, format="#,##0.00 %", locale=language)


def when(epoch_s: float | None, language: str) -> str:
    if not epoch_s:
        return "–"
    return format_datetime(datetime.fromtimestamp(epoch_s), format="medium", locale=language)


def when_iso(text: object, language: str) -> str:
    """An ISO 8601 time of the daemon (``2026-12-04T10:15:00Z``) in the locale, local time; a
    text that is not one is shown as it is."""
    if not isinstance(text, str) or not text:
        return "–"
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        return text
    if moment.tzinfo is not None:
        moment = moment.astimezone().replace(tzinfo=None)
    return format_datetime(moment, format="medium", locale=language)
