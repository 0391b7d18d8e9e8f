"""Every text the HMI shows comes from its catalogues: the templates hold no bare words, the
handlers name catalogue messages (``Msg``) instead of building sentences, and every message id
they use is translated in English, German and French.

These tests read the sources, so a template or a handler that shows a text the catalogues do
not have fails here, whichever page or refusal it is on.
"""

from __future__ import annotations

import ast
import re
from html.parser import HTMLParser
from pathlib import Path

import pytest
from babel.messages.pofile import read_po

from linectl.hmi import i18n
from linectl.hmi.actions import LINE_COMMANDS, UNHOLD_REJECT
from linectl.hmi.aggregation import ACTIONS as REWORK_ACTIONS
from linectl.hmi.messages import ALARMS, KEYED, PROBLEMS, Msg, alarm_kind, daemon_problem
from linectl.hmi.pages import STATE_NAMES, TEMPLATES
from linectl.identity import SIGNED_ACTIONS, Role
from tests.docs.alarm_codes import raised_alarms
from tests.hmi.test_catalogues import keyed_messages

HMI = Path(i18n.__file__).parent
NO_WORDS = re.compile(r"^[\s#·:,;()/–\-.|]*$")  # punctuation and layout only
PRODUCT = "linectl"  # a name, the same in every language
SHOWN_ATTRIBUTES = ("alt", "title", "placeholder", "aria-label", "data-title", "data-cumulative")
# the keyed codes a handler may pass as a variable (Msg.key("state", name)), per prefix
KEYED_DOMAINS: dict[str, set[str]] = {
    "state": set(STATE_NAMES),
    "command": {*LINE_COMMANDS, UNHOLD_REJECT},  # and what not_allowed() is called with
    "meaning": {m for meanings in SIGNED_ACTIONS.values() for m in meanings},
    "problem": set(PROBLEMS),
    "role": {role.value for role in Role},
    "rework": set(REWORK_ACTIONS),
    "alarm": set(ALARMS),
}


class _Words(HTMLParser):
    """The words a template shows outside its ``{{ ... }}`` and ``{% ... %}``."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.words: list[str] = []
        self._skip = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in ("script", "style"):
            self._skip += 1
        self.words.extend(v for k, v in attrs if k in SHOWN_ATTRIBUTES and v)

    def handle_endtag(self, tag: str) -> None:
        if tag in ("script", "style"):
            self._skip -= 1

    def handle_data(self, data: str) -> None:
        if not self._skip:
            self.words.append(data)


def bare_words(template: str) -> list[str]:
    template = re.sub(r"\{% block page %\}[\w-]*\{% endblock %\}", "", template)  # an attribute
    without_jinja = re.sub(r"\{\{.*?\}\}|\{%.*?%\}|\{#.*?#\}", " ", template, flags=re.S)
    parser = _Words()
    parser.feed(without_jinja)
    words = (w.replace(PRODUCT, "") for w in parser.words)
    return [w.strip() for w in words if not NO_WORDS.match(w)]


@pytest.mark.parametrize("template", sorted(p.name for p in TEMPLATES.glob("*.html")))
def test_a_template_shows_no_word_that_is_not_a_catalogue_message(template: str) -> None:
    assert bare_words((TEMPLATES / template).read_text(encoding="utf-8")) == []


def test_the_template_check_finds_a_bare_word() -> None:
    assert bare_words('<p>{{ _("Good") }}</p><label>SSCC<input title="Zoom"></label>') == [
        "SSCC",
        "Zoom",
    ]


def _calls(tree: ast.AST, name: str) -> list[ast.Call]:
    return [
        node
        for node in ast.walk(tree)
        if isinstance(node, ast.Call)
        and (
            (isinstance(node.func, ast.Name) and node.func.id == name)
            or (isinstance(node.func, ast.Attribute) and node.func.attr == name)
        )
    ]


def handler_messages(folder: Path = HMI) -> tuple[set[str], list[str]]:
    """(message ids the HMI's code names, problems found: ids that are not literals, texts
    given to an HTTP error or a page without a catalogue message)."""
    ids: set[str] = set()
    problems: list[str] = []
    for path in sorted(folder.glob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        where = path.name
        for call in _calls(tree, "Msg"):
            first = call.args[0] if call.args else None
            if isinstance(first, ast.Constant) and isinstance(first.value, str):
                ids.add(first.value)
            else:
                problems.append(f"{where}:{call.lineno}: Msg() of a computed id")
        for call in _calls(tree, "key"):
            if not (isinstance(call.func, ast.Attribute) and ast.unparse(call.func) == "Msg.key"):
                continue
            prefix, code = call.args[0], call.args[1]
            assert isinstance(prefix, ast.Constant) and prefix.value in KEYED, ast.unparse(call)
            if isinstance(code, ast.Constant):
                ids.add(f"{prefix.value}:{code.value}")
            elif prefix.value not in KEYED_DOMAINS:
                problems.append(f"{where}:{call.lineno}: Msg.key({prefix.value!r}, <variable>)")
        for call in _calls(tree, "not_allowed"):
            what = call.args[1]
            if isinstance(what, ast.Constant):
                ids.add(f"command:{what.value}")
            elif ast.unparse(what) not in ("name", "UNHOLD_REJECT"):  # a line command, checked
                problems.append(f"{where}:{call.lineno}: not_allowed() of {ast.unparse(what)}")
        for node in ast.walk(tree):
            if not isinstance(node, ast.Call):
                continue
            for kw in node.keywords:
                if kw.arg == "text" and where != "security.py" and "HTTP" in ast.unparse(node):
                    problems.append(f"{where}:{node.lineno}: an HTTP error with its own text")
                bare = isinstance(kw.value, ast.JoinedStr) or (
                    isinstance(kw.value, ast.Constant) and isinstance(kw.value.value, str)
                )
                if kw.arg == "message" and bare:
                    problems.append(f"{where}:{node.lineno}: message= a bare text")
    return ids, problems


def test_handlers_show_only_catalogue_messages() -> None:
    ids, problems = handler_messages()
    assert problems == []
    assert len(ids) > 40


def test_the_handler_check_finds_a_sentence_built_in_code(tmp_path: Path) -> None:
    (tmp_path / "bad.py").write_text(
        "from aiohttp import web\n"
        "def handler(request, render, user, name):\n"
        "    render.page(request, 'x.html', message=f'{user} may not')\n"
        "    Msg(f'state:{name}')\n"
        "    raise web.HTTPForbidden(text='no')\n",
        encoding="utf-8",
    )
    _, problems = handler_messages(tmp_path)
    assert problems == [
        "bad.py:4: Msg() of a computed id",
        "bad.py:3: message= a bare text",
        "bad.py:5: an HTTP error with its own text",
    ]


def catalogue(language: str) -> dict[str, str]:
    with i18n.catalogue_path(language).open("rb") as po:
        return {str(m.id): str(m.string) for m in read_po(po, locale=language) if m.id}


def test_every_message_of_the_handlers_is_translated_in_each_language() -> None:
    ids, _ = handler_messages()
    wanted = ids | {f"{p}:{c}" for p, codes in KEYED_DOMAINS.items() for c in codes}
    wanted |= keyed_messages()
    for language in i18n.LANGUAGES:
        have = catalogue(language)
        missing = sorted(m for m in wanted if not have.get(m))
        assert not missing, f"{language}: untranslated {missing}"
        for m in wanted:
            placeholders = set(re.findall(r"%\((\w+)\)s", m))
            assert set(re.findall(r"%\((\w+)\)s", have[m])) == placeholders, (language, m)


def test_a_refusal_of_the_daemon_is_explained_in_the_users_language() -> None:
    translations = i18n.load_translations()
    doc = {
        "type": "urn:linectl:problem:second-person",
        "status": 403,
        "detail": "sv.sam started or closed batch B-1: its release needs a second person",
    }
    message = daemon_problem(403, doc)
    german = message.text(translations["de"], "de")
    assert "zweite Person" in german and german != doc["detail"]
    assert message.detail == doc["detail"]  # kept, shown apart as the line's own words
    odd = daemon_problem(418, {"type": "urn:linectl:problem:teapot", "detail": "short and stout"})
    assert "418" in odd.text(translations["fr"], "fr")


def test_a_message_translates_its_values_and_formats_numbers_for_the_locale() -> None:
    translations = i18n.load_translations()
    too_long = Msg(
        "%(what)s is too long: at most %(limit)s characters (got %(got)s).",
        what=Msg("Reason"),
        limit=1000,
        got=1001,
    )
    assert too_long.text(translations["en"], "en") == (
        "Reason is too long: at most 1,000 characters (got 1,001)."
    )
    german = too_long.text(translations["de"], "de")
    assert "Grund" in german and "1.000" in german
    assert Msg.key("state", "NO-SUCH").text(translations["de"], "de") == "NO-SUCH"


def test_every_alarm_the_line_raises_has_a_title_in_each_language() -> None:
    raised = {alarm_kind(r.code) for r in raised_alarms()}
    assert set(ALARMS) == raised
    for language in i18n.LANGUAGES:
        have = catalogue(language)
        assert not [code for code in ALARMS if not have.get(f"alarm:{code}")], language
