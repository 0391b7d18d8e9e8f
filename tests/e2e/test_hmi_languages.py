"""The HMI's confirmations and refusals in the user's language, in headless Chromium against the
simulated line: an operator working in German starts, holds (an oversized reason refused, the
form's message in German) and unholds; the daemon's refusal of a command is explained in German
with its own words apart; a forged release is refused in German; QA working in French is told
why a release is refused (wrong password, batch not closed) and signs it; the supervisor closes
the batch with a signature in German. No English confirmation reaches either of them.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.support.ui import Select

from standards.packml import PackMLState
from tests.e2e.hmi_line import hmi_line
from tests.e2e.rig import BATCH
from tests.hmi.browser import (
    chromium,
    csrf_of,
    log_in,
    log_out,
    post_form,
    text_of,
    wait_text,
    wait_visible,
)

pytestmark = pytest.mark.e2e

PACKS = 400
ENGLISH = ("the line is", "signed by", "Reason:", "is too long", "refused", "The line says")


async def run(fn: object, *args: object) -> object:
    return await asyncio.to_thread(fn, *args)  # type: ignore[arg-type]


def click(browser: WebDriver, css: str) -> None:
    browser.find_element(By.CSS_SELECTOR, css).click()


def type_into(browser: WebDriver, css: str, text: str) -> None:
    field = browser.find_element(By.CSS_SELECTOR, css)
    field.clear()
    field.send_keys(text)


def choose_language(browser: WebDriver, language: str, nav_word: str) -> None:
    Select(browser.find_element(By.ID, "language")).select_by_value(language)
    wait_text(browser, "nav", nav_word)


def message(browser: WebDriver, expected: str) -> str:
    """The page's message once it shows ``expected``; the message itself (not the daemon's
    words shown apart) has none of the English phrases."""
    text = wait_text(browser, "#message", expected)
    own = text_of(browser, "#message-text")
    assert not [e for e in ENGLISH if e in own], text
    return text


async def test_confirmations_and_refusals_are_shown_in_german_and_french(tmp_path: Path) -> None:
    async with hmi_line(tmp_path, packs=PACKS, pool=PACKS + 50, packs_per_minute=1200) as hmi:
        people = hmi.people
        olga = await run(people.add, "op.olga", "operator", "Olga Operator")
        sam = await run(people.add, "sv.sam", "supervisor", "Sam Supervisor")
        quinn = await run(people.add, "qa.quinn", "qa", "Quinn QA")
        b: WebDriver = await run(chromium, tmp_path / "chromium")  # type: ignore[assignment]
        try:
            # --- the operator works in German ----------------------------------------------------
            await run(log_in, b, hmi.url, "op.olga", olga)
            await run(choose_language, b, "de", "Übersicht")
            await run(type_into, b, "#reason", "Schichtbeginn")
            await run(click, b, "#start")
            started = await run(message, b, "Start: Linienzustand")
            assert "Grund: Schichtbeginn" in str(started)
            await run(wait_text, b, "[data-field=state]", "Produktion")

            token = await run(csrf_of, b)
            await run(
                post_form, b, "/command", {"command": "hold", "csrf": token, "reason": "x" * 1001}
            )
            await run(b.get, hmi.url)
            too_long = await run(message, b, "zu lang")
            assert "Grund ist zu lang: höchstens 1.000 Zeichen (eingegeben: 1.001)" in str(too_long)

            await run(type_into, b, "#reason", "Drucker prüfen")
            await run(click, b, "#hold")
            held = await run(message, b, "Anhalten: Linienzustand")
            assert "Grund: Drucker prüfen" in str(held)
            await run(wait_text, b, "[data-field=state]", "Angehalten")
            await run(type_into, b, "#reason", "Drucker geprüft")
            await run(click, b, "#unhold")
            await run(message, b, "Fortsetzen: Linienzustand")
            await run(wait_text, b, "[data-field=state]", "Produktion")

            # the daemon refuses an unhold of a running line: why, in German; its words apart
            await run(type_into, b, "#reason", "noch einmal")
            await run(click, b, "#unhold")
            refused = await run(message, b, "abgelehnt")
            assert "Die Linie hat den Befehl in ihrem jetzigen Zustand abgelehnt." in str(refused)
            detail = await run(text_of, b, "#message-detail")
            assert str(detail).startswith("Die Linie meldet: the line is EXECUTE, not HELD"), detail

            # the rejects screen's charts speak German too (their date axis, from Intl)
            await run(b.get, hmi.url + "rejects")
            await run(wait_visible, b, "#rate-chart .main-svg")
            locale = await run(
                b.execute_script, "return document.getElementById('rate-chart')._context.locale;"
            )
            assert locale == "de"
            assert "Ausschussquote im Zeitverlauf" in await run(text_of, b, "main")

            # a release the operator's role may not make: refused in German
            token = await run(csrf_of, b)
            status, body = await run(
                post_form,
                b,
                "/batch/release",
                {"csrf": token, "batch": BATCH, "password": olga, "meaning": "released"},
            )
            assert status == 403
            assert body == "op.olga (Bediener) darf das nicht: Charge freigeben.", body
            await run(log_out, b)

            # --- QA works in French: a release before the close is refused -------------------
            hmi.rig.end_after(20)  # PACKS bounds the operator's steps; no idle wait for the rest
            await hmi.rig.wait_state(PackMLState.COMPLETE)
            await run(log_in, b, hmi.url, "qa.quinn", quinn)
            await run(choose_language, b, "fr", "Vue d'ensemble")
            await run(b.get, hmi.url + "batch")
            await run(type_into, b, "#release-batch", BATCH)
            await run(type_into, b, "#release-password", str(quinn))
            await run(click, b, "#release")
            not_closed = await run(message, b, "Libération refusée")
            assert "le lot n'est pas encore clôturé" in str(not_closed)
            assert "La ligne indique" in str(not_closed)
            await run(log_out, b)

            # --- the supervisor closes the batch with a signature, in German -----------------
            await run(log_in, b, hmi.url, "sv.sam", sam)
            await run(choose_language, b, "de", "Übersicht")
            await run(b.get, hmi.url + "batch")
            await run(Select(b.find_element(By.NAME, "meaning")).select_by_value, "performed")
            await run(click, b, "#close")  # no password: the form's message, in German
            await run(message, b, "Passwort (Unterschrift) fehlt")
            await run(type_into, b, "#close-password", str(sam))
            await run(click, b, "#close")
            closed = await run(message, b, "abgeschlossen")
            assert f"Charge {BATCH} abgeschlossen, unterschrieben von Sam Supervisor" in str(closed)
            await run(b.save_screenshot, str(tmp_path / "languages-close-de.png"))
            await run(log_out, b)

            # --- QA signs the release, in French (remembered for her) ------------------------
            await run(log_in, b, hmi.url, "qa.quinn", quinn)
            assert "Vue d'ensemble" in await run(text_of, b, "nav")
            await run(b.get, hmi.url + "batch")
            await run(wait_visible, b, "#release-form")
            await run(type_into, b, "#release-batch", BATCH)
            await run(type_into, b, "#release-password", "pas son mot de passe")
            await run(click, b, "#release")
            await run(message, b, "Mot de passe incorrect.")
            await run(type_into, b, "#release-password", str(quinn))
            await run(click, b, "#release")
            released = await run(message, b, "libéré")
            assert f"Lot {BATCH} libéré, signé par Quinn QA" in str(released)
            await run(b.save_screenshot, str(tmp_path / "languages-release-fr.png"))
        finally:
            await run(b.quit)
