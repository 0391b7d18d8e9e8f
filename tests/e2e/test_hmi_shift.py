"""A shift at the HMI in headless Chromium against the simulated line, as the issue describes it:
an operator starts the line, watches the counters, opens a rejected pack, holds and unholds with
a reason (a ``<script>`` reason is shown as text; a forged CSRF token and an oversized reason are
refused); release is refused to the operator and to the supervisor who closes the batch with a
signature; QA signs the release; QA's overview in German. Screenshots of the overview, rejects
and batch screens are checked for their texts and figures and kept in the test's directory.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.support.ui import Select

from simulators.line import Defect
from standards.packml import PackMLState
from tests.e2e.hmi_line import hmi_line
from tests.e2e.rig import BATCH, ScriptedFaults
from tests.hmi.browser import (
    chromium,
    csp_violations,
    csrf_of,
    log_in,
    log_out,
    post_form,
    text_of,
    wait_script,
    wait_text,
    wait_visible,
)

pytestmark = pytest.mark.e2e

PACKS = 300
XSS = "<script>window.hacked = 1</script>"


def number(text: str) -> int:
    return int("".join(ch for ch in text if ch.isdigit()) or "0")


def click(browser: WebDriver, css: str) -> None:
    browser.find_element(By.CSS_SELECTOR, css).click()


def type_into(browser: WebDriver, css: str, text: str) -> None:
    field = browser.find_element(By.CSS_SELECTOR, css)
    field.clear()
    field.send_keys(text)


async def run(fn: object, *args: object) -> object:
    return await asyncio.to_thread(fn, *args)  # type: ignore[arg-type]


async def test_a_shift_at_the_hmi_from_start_to_a_signed_release(tmp_path: Path) -> None:
    faults = ScriptedFaults(seed=7, forced={20: Defect.NO_PRINT, 45: Defect.WRONG_CONTENT})
    async with hmi_line(
        tmp_path, packs=PACKS, pool=PACKS + 50, faults=faults, packs_per_minute=1200
    ) as hmi:
        people = hmi.people
        olga = await run(people.add, "op.olga", "operator", "Olga Operator")
        sam = await run(people.add, "sv.sam", "supervisor", "Sam Supervisor")
        quinn = await run(people.add, "qa.quinn", "qa", "Quinn QA")
        b: WebDriver = await run(chromium, tmp_path / "chromium")  # type: ignore[assignment]
        try:
            # --- the operator starts the line and watches it ----------------------------------
            await run(log_in, b, hmi.url, "op.olga", olga)
            assert "Olga Operator (operator)" in await run(text_of, b, "#user")
            await run(type_into, b, "#reason", "shift start")
            await run(click, b, "#start")
            await run(wait_text, b, "[data-field=state]", "Execute")
            first = await run(wait_text, b, "[data-field=good]", lambda t: number(t) >= 30)
            await run(
                wait_text, b, "[data-field=good]", lambda t: number(t) > number(str(first)) + 30
            )

            # --- a rejected pack: its image and reason ----------------------------------------
            await run(b.get, hmi.url + "rejects")
            await run(wait_visible, b, "#reject-list .reject-image")
            reason = await run(text_of, b, "#reject-list tr.reject .reason")
            assert reason in ("no print", "wrong content")
            await run(
                wait_script,
                b,
                "const i = document.querySelector('.reject-image');"
                "return i && i.complete && i.naturalWidth > 100;",
            )  # a live update may just have brought a new image
            await run(b.save_screenshot, str(tmp_path / "shift-rejects.png"))

            # --- hold with a reason that is a script: shown as text, never run ----------------
            await run(b.get, hmi.url)
            await run(type_into, b, "#reason", XSS)
            await run(click, b, "#hold")
            await run(wait_text, b, "[data-field=state]", "Held")
            assert XSS in await run(text_of, b, "#message")
            assert await run(b.execute_script, "return window.hacked === undefined") is True
            assert "<script>window.hacked" not in b.page_source.split("<main>")[0]

            # --- a forged CSRF token and an oversized reason are refused ----------------------
            status, body = await run(post_form, b, "/command", {"command": "unhold", "csrf": "x"})
            assert status == 403 and "security token" in body
            status, _ = await run(
                post_form, b, "/command", {"command": "hold", "csrf": "", "reason": "again"}
            )
            assert status == 403
            token = await run(csrf_of, b)
            await run(
                post_form, b, "/command", {"command": "unhold", "csrf": token, "reason": "x" * 1001}
            )
            await run(b.get, hmi.url)
            assert "too long: at most 1,000 characters" in await run(text_of, b, "#message")
            assert hmi.rig.rt.status()["state"]["name"] == "HELD"

            await run(type_into, b, "#reason", "printer checked")
            await run(click, b, "#unhold")
            await run(wait_text, b, "[data-field=state]", "Execute")

            # --- the operator may neither close nor release -----------------------------------
            await run(b.get, hmi.url + "batch")
            assert b.find_elements(By.ID, "close-form") == []
            assert b.find_elements(By.ID, "release-form") == []
            assert "needs the QA role" in await run(text_of, b, "#no-release")
            token = await run(csrf_of, b)
            status, _ = await run(
                post_form,
                b,
                "/batch/release",
                {"csrf": token, "batch": BATCH, "password": olga, "meaning": "released"},
            )
            assert status == 403

            fed = hmi.rig.end_after(20)  # PACKS bounds the steps above: no idle wait for the rest
            await hmi.rig.wait_state(PackMLState.COMPLETE)
            await hmi.rig.rt.line_end_done()
            counters = hmi.rig.rt.status()["counters"]
            good, rejects = counters["verdicts_good"], counters["verdicts_reject"]
            assert good + rejects == fed and rejects >= 2
            await run(b.get, hmi.url)
            await run(wait_text, b, "[data-field=good]", lambda t: number(t) == good)
            await run(wait_text, b, "[data-field=state]", "Complete")
            await run(b.save_screenshot, str(tmp_path / "shift-overview.png"))
            overview = await run(text_of, b, "main")
            rate = f"{rejects / fed:.2%}"
            assert f"Good\n{good}" in overview and f"Rejects\n{rejects}" in overview, overview
            assert rate in overview and BATCH in overview, (rate, overview)
            await run(log_out, b)

            # --- the supervisor closes with a signature, and may not release ------------------
            await run(log_in, b, hmi.url, "sv.sam", sam)
            await run(b.get, hmi.url + "batch")
            assert b.find_elements(By.ID, "release-form") == []
            await run(Select(b.find_element(By.NAME, "meaning")).select_by_value, "performed")
            await run(type_into, b, "#close-password", str(sam))
            await run(click, b, "#close")
            closed = await run(wait_text, b, "#message", "closed")
            assert "signed by Sam Supervisor (performed)" in str(closed)
            token = await run(csrf_of, b)
            status, _ = await run(
                post_form,
                b,
                "/batch/release",
                {"csrf": token, "batch": BATCH, "password": sam, "meaning": "released"},
            )
            assert status == 403
            await run(log_out, b)

            # --- QA signs the release ----------------------------------------------------------
            await run(log_in, b, hmi.url, "qa.quinn", quinn)
            await run(b.get, hmi.url + "batch")
            assert b.find_element(By.ID, "release-batch").get_attribute("value") == BATCH
            await run(type_into, b, "#release-password", "not her password")
            await run(click, b, "#release")
            await run(wait_text, b, "#message", "password")  # a wrong password is refused
            await run(type_into, b, "#release-password", str(quinn))
            await run(click, b, "#release")
            released = await run(wait_text, b, "#message", "released")
            assert f"Batch {BATCH} released, signed by Quinn QA (released)" in str(released)
            await run(b.save_screenshot, str(tmp_path / "shift-batch.png"))

            # --- QA's own language: German ------------------------------------------------------
            await run(b.get, hmi.url)
            await run(Select(b.find_element(By.ID, "language")).select_by_value, "de")
            await run(wait_text, b, "nav", "Übersicht")
            await run(wait_text, b, "[data-field=state]", "Abgeschlossen")
            page = await run(text_of, b, "body")
            for german in ("Ausschleusungen", "Ausschussquote", "Seriennummern-Vorrat", "Geräte"):
                assert german in page, german
            assert f"{rejects / fed * 100:.2f}".replace(".", ",") in page  # 0,50 % in German
            await run(b.save_screenshot, str(tmp_path / "shift-overview-de.png"))
            await run(log_out, b)
            await run(log_in, b, hmi.url, "qa.quinn", quinn)  # remembered for her
            assert "Übersicht" in await run(text_of, b, "nav")
            assert await run(csp_violations, b) == []
        finally:
            await run(b.quit)
