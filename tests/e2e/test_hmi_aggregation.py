"""The aggregation screen in headless Chromium against the simulated line with its case packer:
the cases and pallets closed and the last labels with their verification, as the daemon says;
a supervisor removes a unit from a case with an electronic signature (a wrong password is
refused), the ledger shows the unit out of the case; an operator gets no rework form and a
forged rework is refused. A screenshot of the screen is checked for its texts and kept.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.support.ui import Select

from linectl.ledger import ContainerLevel
from linectl.line.control import Command
from standards.packml import PackMLState
from tests.e2e.hmi_line import hmi_line
from tests.e2e.rig import BATCH
from tests.hmi.browser import (
    chromium,
    csp_violations,
    csrf_of,
    log_in,
    log_out,
    post_form,
    text_of,
    wait_text,
)

pytestmark = pytest.mark.e2e


def click(browser: WebDriver, css: str) -> None:
    browser.find_element(By.CSS_SELECTOR, css).click()


def type_into(browser: WebDriver, css: str, text: str) -> None:
    field = browser.find_element(By.CSS_SELECTOR, css)
    field.clear()
    field.send_keys(text)


async def run(fn: object, *args: object) -> object:
    return await asyncio.to_thread(fn, *args)  # type: ignore[arg-type]


async def test_the_aggregation_screen_shows_cases_labels_and_a_signed_removal(
    tmp_path: Path,
) -> None:
    aggregation = {"case_size": 6, "pallet_size": 3}
    async with hmi_line(
        tmp_path, packs=40, pool=60, packs_per_minute=1200, aggregation=aggregation
    ) as hmi:
        people = hmi.people
        olga = await run(people.add, "op.olga", "operator", "Olga Operator")
        sam = await run(people.add, "sv.sam", "supervisor", "Sam Supervisor")
        rig = hmi.rig
        await rig.rt.command(Command.START, user="op.olga", reason="shift start")
        await rig.wait_state(PackMLState.COMPLETE)
        await rig.wait(lambda: rig.rt.status()["packing"]["cases_closed"] >= 6)
        packing = rig.rt.status()["packing"]
        cases = rig.ledger.containers.find(batch=BATCH, level=ContainerLevel.CASE)
        first = sorted(cases, key=lambda c: c.created_at)[0].sscc
        serial = rig.ledger.containers.contents(first).serials[0]
        b: WebDriver = await run(chromium, tmp_path / "chromium")  # type: ignore[assignment]
        try:
            # --- the operator watches, without rework ------------------------------------------
            await run(log_in, b, hmi.url, "op.olga", olga)
            await run(b.get, hmi.url + "aggregation")
            closed = await run(text_of, b, "#cases-closed")
            assert closed == str(packing["cases_closed"])
            assert await run(text_of, b, "#pallets-closed") == str(packing["pallets_closed"])
            labels = await run(text_of, b, "#label-list")
            assert first in str(labels) and "verified" in str(labels)
            assert "Rework needs the supervisor or QA role" in await run(text_of, b, "#no-rework")
            token = await run(csrf_of, b)
            forged = {"csrf": token, "action": "remove", "sscc": first, "serial": serial,
                      "reason": "x", "meaning": "performed", "password": olga}  # fmt: skip
            status, _ = await run(post_form, b, "/aggregation/rework", forged)
            assert status == 403
            await run(log_out, b)

            # --- the supervisor removes a unit from the first case, signed ---------------------
            await run(log_in, b, hmi.url, "sv.sam", sam)
            await run(b.get, hmi.url + "aggregation")
            await run(Select(b.find_element(By.ID, "rework-action")).select_by_value, "remove")
            await run(type_into, b, "#rework-sscc", first)
            await run(type_into, b, "#rework-serial", serial)
            await run(type_into, b, "#rework-reason", "crushed pack taken out")
            await run(type_into, b, "#rework-password", "not his password")
            await run(click, b, "#rework")
            await run(wait_text, b, "#message", "password")
            assert serial in rig.ledger.containers.contents(first).serials  # nothing done
            await run(type_into, b, "#rework-sscc", first)
            await run(type_into, b, "#rework-serial", serial)
            await run(type_into, b, "#rework-reason", "crushed pack taken out")
            await run(type_into, b, "#rework-password", str(sam))
            await run(click, b, "#rework")
            done = await run(wait_text, b, "#message", "done")
            assert f"{first}: done, signed by Sam Supervisor (performed)" in str(done)
            assert serial not in rig.ledger.containers.contents(first).serials
            await run(b.save_screenshot, str(tmp_path / "aggregation.png"))
            page = await run(text_of, b, "main")
            for text in ("Case being filled", "Cases closed", "Last labels", "verified"):
                assert text in str(page), text
            await run(b.get, hmi.url + "audit?user=sv.sam")
            trail = await run(text_of, b, "#audit-trail")
            assert "rework.signed" in str(trail) and "crushed pack taken out" in str(trail)
            assert await run(csp_violations, b) == []
        finally:
            await run(b.quit)
