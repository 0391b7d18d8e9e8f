"""The verification page's message catalogues: every message of the template, in every language."""

from __future__ import annotations

from babel.messages.extract import extract_from_file
from babel.messages.pofile import read_po

from linectl.resolver.page import HERE, LOCALE_DIR

LANGUAGES = ("en", "de", "fr")


def _template_messages() -> set[str]:
    found = extract_from_file("jinja2", str(HERE / "templates" / "verify.html"))
    return {message for _, message, _, _ in found if isinstance(message, str)}


def test_every_message_of_the_page_is_in_every_catalogue_and_translated() -> None:
    used = _template_messages()
    assert len(used) > 15
    for language in LANGUAGES:
        with (LOCALE_DIR / language / "LC_MESSAGES" / "resolver.po").open("rb") as handle:
            catalog = read_po(handle, locale=language)
        ids = {m.id for m in catalog if m.id}
        assert used <= ids, (language, sorted(used - ids))
        if language != "en":
            untranslated = [m.id for m in catalog if m.id and not m.string]
            assert not untranslated, (language, untranslated)
            for message in catalog:  # placeholders survive the translation
                if message.id and "%(" in str(message.id):
                    for name in ("count", "date", "country", "lot", "reason"):
                        assert (f"%({name})s" in str(message.id)) == (
                            f"%({name})s" in str(message.string)
                        )
