"""The HMI's message catalogues: every text the templates and the live script use is translated
in English, German and French, and the catalogues compile."""

from __future__ import annotations

from babel.messages.extract import extract_from_dir
from babel.messages.pofile import read_po

from linectl.hmi import i18n
from linectl.hmi.aggregation import ACTIONS as REWORK_ACTIONS
from linectl.hmi.pages import STATE_NAMES, TEMPLATES
from linectl.identity import SIGNED_ACTIONS, Role
from linectl.ledger import ContainerLevel, WorkOrderStatus
from linectl.line.reasons import RejectReason


def template_messages() -> set[str]:
    found = extract_from_dir(
        TEMPLATES,
        method_map=[("**.html", "jinja2")],
        options_map={"**.html": {"extensions": "jinja2.ext.i18n"}},
    )
    messages = set()
    for _file, _line, message, _comments, _context in found:
        if isinstance(message, str) and not message.endswith(":"):
            messages.add(message)  # "state:" ~ name and the like are checked below
    return messages


def keyed_messages() -> set[str]:
    keys = {f"state:{name}" for name in STATE_NAMES}
    keys |= {f"role:{role.value}" for role in Role}
    keys |= {f"reason:{reason.value}" for reason in RejectReason}
    keys |= {f"meaning:{m}" for meanings in SIGNED_ACTIONS.values() for m in meanings}
    keys |= {f"status:{status.value}" for status in WorkOrderStatus}
    keys |= {f"level:{level.value}" for level in ContainerLevel}
    keys |= {f"rework:{action}" for action in REWORK_ACTIONS}
    keys |= {"connected", "lost", "holds the line", "none"}
    return keys


def test_every_hmi_text_is_in_each_catalogue_with_a_translation() -> None:
    wanted = template_messages() | keyed_messages()
    assert len(wanted) > 80
    for language in i18n.LANGUAGES:
        with i18n.catalogue_path(language).open("rb") as po:
            catalog = read_po(po, locale=language)
        missing = sorted(m for m in wanted if not (catalog.get(m) and catalog.get(m).string))
        assert not missing, f"{language}: untranslated {missing}"


def test_the_catalogues_compile_and_translate() -> None:
    translations = i18n.load_translations()
    assert translations["de"].gettext("Overview") == "Übersicht"
    assert translations["fr"].gettext("state:HELD") == "En pause"
    assert translations["en"].gettext("state:EXECUTE") == "Execute"


def test_numbers_follow_the_users_locale() -> None:
    assert i18n.number(12345, "en") == "12,345"
    assert i18n.number(12345, "de") == "12.345"
    assert i18n.number(12345, "fr") == "12\u202f345"
    assert i18n.percent(0.005, "de") == "0,50 %"  # the locale's space before %


def test_the_daemons_times_are_shown_in_the_users_locale() -> None:
    german = i18n.when_iso("2026-12-04T10:15:00", "de")
    assert german.startswith("04.12.2026") and "10:15:00" in german
    assert i18n.when_iso("2026-12-04T10:15:00", "en").startswith("Dec 4, 2026")
    assert "2026" in i18n.when_iso("2026-12-04T10:15:00Z", "fr")  # UTC, shown in local time
    assert i18n.when_iso("not a time", "de") == "not a time"
    assert i18n.when_iso(None, "de") == "–"
