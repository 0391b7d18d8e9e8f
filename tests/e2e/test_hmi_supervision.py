"""The supervisor's screens of the HMI in headless Chromium against the simulated line: a work
order created from the product pick list with its materials (and refused to the operator); the
overview's target speed; an unconfirmed reject that holds the line, acknowledged on the alarms
screen with a comment, and an unhold that needs a supervisor's electronic signature (the
operator is told so; no password, a wrong one: still held); the audit trail filtered by batch
and user, refused to the operator. Screenshots of the batch, alarms, signature dialog and audit
screens are checked for their texts and kept in the test's directory.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.support.ui import Select

from linectl.line.control import Command
from simulators.line import Defect
from standards.packml import PackMLState
from tests.e2e.hmi_line import hmi_line
from tests.e2e.rig import BATCH, GTIN, ScriptedFaults
from tests.hmi.browser import (
    chromium,
    csp_violations,
    csrf_of,
    log_in,
    log_out,
    post_form,
    text_of,
    wait_text,
    wait_visible,
)

pytestmark = pytest.mark.e2e

PACKS = 80
XSS = "<script>window.hacked = 1</script>"
NEW = "B-HMI-NEW-1"


def click(browser: WebDriver, css: str) -> None:
    browser.find_element(By.CSS_SELECTOR, css).click()


def type_into(browser: WebDriver, css: str, text: str) -> None:
    field = browser.find_element(By.CSS_SELECTOR, css)
    field.clear()
    field.send_keys(text)


def fill_materials(browser: WebDriver, pairs: list[tuple[str, str]]) -> None:
    names = browser.find_elements(By.CSS_SELECTOR, ".material-name")
    lots = browser.find_elements(By.CSS_SELECTOR, ".material-lot")
    for (name, lot), name_field, lot_field in zip(pairs, names, lots, strict=False):
        name_field.clear()
        name_field.send_keys(name)
        lot_field.clear()
        lot_field.send_keys(lot)


async def run(fn: object, *args: object) -> object:
    return await asyncio.to_thread(fn, *args)  # type: ignore[arg-type]


async def test_supervision_at_the_hmi_batch_alarm_signed_unhold_and_audit(tmp_path: Path) -> None:
    faults = ScriptedFaults(seed=3, forced={20: Defect.NO_PRINT})
    faults.fail_confirms = 1  # the gate's sensor misses the reject of pack 20
    async with hmi_line(
        tmp_path,
        line_extra="target_packs_per_minute = 1200",
        packs=PACKS,
        pool=PACKS + 40,
        faults=faults,
        packs_per_minute=1200,
    ) as hmi:
        people = hmi.people
        olga = await run(people.add, "op.olga", "operator", "Olga Operator")
        sam = await run(people.add, "sv.sam", "supervisor", "Sam Supervisor")
        b: WebDriver = await run(chromium, tmp_path / "chromium")  # type: ignore[assignment]
        try:
            # --- the supervisor creates a work order from the product pick list ---------------
            await run(log_in, b, hmi.url, "sv.sam", sam)
            target = await run(text_of, b, "#target-speed")
            assert target == "Target: 1,200 packs/min", target
            await run(b.get, hmi.url + "batch")
            picker = Select(b.find_element(By.ID, "create-product"))
            assert picker.first_selected_option.get_attribute("value") == f"{GTIN}|DE"
            assert f"last batch {BATCH}" in picker.first_selected_option.text
            await run(type_into, b, "#create-batch", NEW)
            await run(type_into, b, "#create-lot", "L-HMI-7")
            await run(type_into, b, "#create-expiry", "281130")
            await run(type_into, b, "#create-quantity", "2400")
            await run(fill_materials, b, [("carton", "C-2026-11"), ("leaflet", "PIL-v3")])
            await run(type_into, b, "#create-reason", XSS)
            await run(click, b, "#create")
            made = await run(wait_text, b, "#message", "created")
            assert f"Work order {NEW} created: GTIN {GTIN}, lot L-HMI-7, 2,400 packs" in str(made)
            row = str(await run(text_of, b, f"#work-orders tr[data-batch='{NEW}']"))
            assert "created" in row and "carton: C-2026-11, leaflet: PIL-v3" in row
            await run(type_into, b, "#create-batch", "B-HMI-BAD")
            await run(type_into, b, "#create-lot", "L1")
            await run(type_into, b, "#create-expiry", "281331")  # month 13
            await run(type_into, b, "#create-quantity", "10")
            names = [
                e.get_attribute("value") for e in b.find_elements(By.CSS_SELECTOR, ".material-name")
            ]
            assert names[:2] == ["carton", "leaflet"]  # the product's materials, to give lots for
            await run(fill_materials, b, [("carton", "C-1"), ("leaflet", "P-1")])
            await run(Select(b.find_element(By.ID, "create-product")).select_by_value, "")
            names = [
                e.get_attribute("value") for e in b.find_elements(By.CSS_SELECTOR, ".material-name")
            ]
            assert names[:2] == ["", ""]  # another product: its materials are typed in
            await run(Select(b.find_element(By.ID, "create-product")).select_by_value, f"{GTIN}|DE")
            await run(fill_materials, b, [("carton", "C-1"), ("leaflet", "P-1")])
            await run(click, b, "#create")
            refused = await run(wait_text, b, "#message", "expiry")
            assert "B-HMI-BAD" not in await run(text_of, b, "#work-orders"), refused
            await run(b.execute_script, "document.getElementById('work-orders').scrollIntoView()")
            await run(b.save_screenshot, str(tmp_path / "supervision-batch.png"))
            await run(log_out, b)

            # --- the operator sees the work orders, but may not create one --------------------
            await run(log_in, b, hmi.url, "op.olga", olga)
            await run(b.get, hmi.url + "batch")
            assert NEW in await run(text_of, b, "#work-orders")
            assert b.find_elements(By.ID, "create-form") == []
            token = await run(csrf_of, b)
            forged = {"csrf": token, "batch": "B-OP", "gtin": GTIN, "market": "DE", "lot": "L",
                      "expiry": "281130", "quantity": "5"}  # fmt: skip
            status, _ = await run(post_form, b, "/batch/create", forged)
            assert status == 403
            assert b.find_elements(By.ID, "nav-audit") == []
            await run(b.get, hmi.url + "audit")
            assert "may not do this: See the audit trail" in await run(text_of, b, "body")

            # --- an unconfirmed reject holds the line; the operator acknowledges the alarm -----
            await hmi.rig.rt.command(Command.START, user="op.olga", reason="shift start")
            await hmi.rig.wait(lambda: hmi.rig.alarm("reject-unconfirmed"))
            await hmi.rig.wait_state(PackMLState.HELD)
            await run(b.get, hmi.url + "alarms")
            alarm_row = "#active-alarms tr[data-code='reject-unconfirmed']"
            await run(wait_visible, b, alarm_row)
            await run(type_into, b, f"{alarm_row} .ack-comment", "looking for pack 20")
            await run(click, b, f"{alarm_row} .ack-button")
            await run(wait_text, b, "#message", "acknowledged by op.olga")
            acked = await run(text_of, b, f"{alarm_row} .ack")
            assert "op.olga" in str(acked) and "looking for pack 20" in str(acked)
            assert "looking for pack 20" in await run(text_of, b, "#alarm-acks")
            await run(b.save_screenshot, str(tmp_path / "supervision-alarms.png"))

            # --- the operator's unhold needs a supervisor's signature: still held -------------
            await run(b.get, hmi.url)
            await run(type_into, b, "#reason", "pack 20 found")
            await run(click, b, "#unhold")
            await run(wait_visible, b, "#unhold-dialog")
            assert "A supervisor or QA must sign" in await run(text_of, b, "#needs-signer")
            assert b.find_elements(By.ID, "sign-password") == []
            assert hmi.rig.rt.status()["state"]["name"] == "HELD"
            await run(b.get, hmi.url)
            await run(log_out, b)

            # --- the supervisor signs the unhold ----------------------------------------------
            await run(log_in, b, hmi.url, "sv.sam", sam)
            await run(type_into, b, "#reason", "pack 20 found in the reject bin")
            await run(click, b, "#unhold")
            await run(wait_visible, b, "#sign-password")
            assert "Unhold after an unconfirmed reject" in await run(text_of, b, "#unhold-dialog")
            assert b.find_element(By.ID, "sign-reason").get_attribute("value") == (
                "pack 20 found in the reject bin"
            )
            await run(b.save_screenshot, str(tmp_path / "supervision-unhold-sign.png"))
            await run(click, b, "#sign-unhold")  # no password
            await run(wait_text, b, "#message", "Password (signature) is required")
            await run(type_into, b, "#sign-password", "not his password")
            await run(click, b, "#sign-unhold")
            await run(wait_visible, b, "#message")
            assert "password" in (await run(text_of, b, "#message")).lower()  # type: ignore[union-attr]
            assert hmi.rig.rt.status()["state"]["name"] == "HELD"
            await run(Select(b.find_element(By.ID, "sign-meaning")).select_by_value, "reviewed")
            await run(type_into, b, "#sign-password", str(sam))
            await run(click, b, "#sign-unhold")
            signed = await run(wait_text, b, "#message", "signed by")
            assert "signed by Sam Supervisor (reviewed)" in str(signed)
            await hmi.rig.wait_state(PackMLState.COMPLETE)

            # --- the audit trail, by user and by batch ----------------------------------------
            await run(b.get, hmi.url + "audit?user=op.olga")
            trail = await run(text_of, b, "#audit-trail")
            assert "alarm.acknowledge" in str(trail) and "looking for pack 20" in str(trail)
            assert "sv.sam" not in str(trail)
            await run(type_into, b, "#audit-user", "sv.sam")
            await run(type_into, b, "#audit-batch", BATCH)
            await run(click, b, "#audit-apply")
            await run(wait_text, b, "#audit-trail", "line.unhold-reject.signed")
            trail = await run(text_of, b, "#audit-trail")
            assert "pack 20 found in the reject bin" in str(trail) and "meaning=reviewed" in str(
                trail
            )
            await run(type_into, b, "#audit-batch", NEW)
            await run(click, b, "#audit-apply")
            await run(wait_text, b, "#audit-trail", "work_order.create")
            assert XSS in await run(text_of, b, "#audit-trail")  # shown as text, never run
            assert await run(b.execute_script, "return window.hacked === undefined") is True
            await run(b.save_screenshot, str(tmp_path / "supervision-audit.png"))
            assert await run(csp_violations, b) == []
        finally:
            await run(b.quit)
