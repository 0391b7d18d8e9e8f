"""The batch, rejects, aggregation, audit and alarms screens follow the line live, in headless
Chromium against the simulated line (with its case packer), and go on across a daemon restart.

Each screen is opened, marked (a flag in the page's window, which a reload would lose), and then
something happens on the line or at another panel; the screen must show it with the flag still
set: it was pushed, not reloaded. Then the daemon's API goes away: the banner says so; the line
is unheld meanwhile; once the API is back, the banner goes and the audit screen shows the unhold.
"""

from __future__ import annotations

import asyncio
import contextlib
from pathlib import Path

import aiohttp
import pytest
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver

from linectl.line.control import Command
from simulators.line import Defect
from standards.packml import PackMLState
from tests.e2e.hmi_line import hmi_line
from tests.e2e.rig import GTIN, ScriptedFaults
from tests.hmi.browser import chromium, log_in, wait_script, wait_text, wait_visible
from tests.hmi.conftest import csrf
from tests.hmi.conftest import log_in as log_in_http

pytestmark = pytest.mark.e2e

PACKS = 400
REJECT_EVERY = 15
AGGREGATION = {"case_size": 6, "pallet_size": 3}


async def run(fn: object, *args: object) -> object:
    return await asyncio.to_thread(fn, *args)  # type: ignore[arg-type]


def number(text: str) -> int:
    return int("".join(ch for ch in text if ch.isdigit()) or "0")


def read(browser: WebDriver, css: str) -> str:
    """The element's text, read again if a live update replaced it meanwhile."""
    return wait_text(browser, css, lambda _text: True)


def open_marked(browser: WebDriver, url: str) -> None:
    """Open ``url`` and flag its window: the flag survives a live update, not a reload."""
    browser.get(url)
    browser.execute_script("window.linectlTestFlag = 'kept';")


def still_marked(browser: WebDriver) -> bool:
    return browser.execute_script("return window.linectlTestFlag === 'kept';") is True


def type_filter(browser: WebDriver, text: str) -> None:
    browser.find_element(By.ID, "audit-user").send_keys(text)


FILTER_VALUE = "return document.getElementById('audit-user').value;"
BANNER_HIDDEN = "return document.getElementById('disconnected').hidden;"
SHOWN_SEQS = (
    "return [...document.querySelectorAll('#reject-list tr.reject')].map(r => r.dataset.seq);"
)


async def test_the_record_screens_are_pushed_live_and_survive_a_daemon_restart(
    tmp_path: Path,
) -> None:
    forced = {seq: Defect.NO_PRINT for seq in range(REJECT_EVERY, PACKS, REJECT_EVERY)}
    async with hmi_line(
        tmp_path,
        packs=PACKS,
        pool=PACKS + 50,  # below the pool's low-water mark: the pool-low alarm is up
        faults=ScriptedFaults(seed=5, forced=forced),
        packs_per_minute=600,
        aggregation=AGGREGATION,
    ) as hmi:
        rig = hmi.rig
        sue = await run(hmi.people.add, "sv.sue", "supervisor", "Sue Supervisor")
        sam = await run(hmi.people.add, "sv.sam", "supervisor", "Sam Supervisor")
        b: WebDriver = await run(chromium, tmp_path / "chromium")  # type: ignore[assignment]
        stack = contextlib.AsyncExitStack()
        try:
            await run(log_in, b, hmi.url, "sv.sam", sam)
            panel = await stack.enter_async_context(
                aiohttp.ClientSession(connector=aiohttp.TCPConnector(ssl=False))
            )  # another person at another panel
            panel_page = await log_in_http(panel, hmi.url, "sv.sue", str(sue))

            # --- batch: a work order made at another panel appears ------------------------------
            await run(open_marked, b, hmi.url + "batch")
            assert "B-LIVE-2" not in await run(read, b, "#work-orders")
            order = {"csrf": csrf(panel_page), "product": f"{GTIN}|DE", "batch": "B-LIVE-2",
                     "lot": "L-LIVE", "expiry": "281130", "quantity": "100",
                     "material_name": "carton", "material_lot": "C-9", "reason": ""}  # fmt: skip
            async with panel.post(hmi.url + "batch/create", data=order) as r:
                assert "Work order B-LIVE-2 created" in await r.text()
            await run(wait_text, b, "#work-orders tr[data-batch='B-LIVE-2']", "created")
            assert await run(still_marked, b)
            await rig.rt.command(Command.START, user="op.olga", reason="live screens")

            # --- rejects: a new rejected pack appears, with its image ---------------------------
            await run(open_marked, b, hmi.url + "rejects")
            before = set(await run(b.execute_script, SHOWN_SEQS))  # type: ignore[arg-type]
            new_seq = await run(
                wait_script,
                b,
                "const seqs = [...document.querySelectorAll('#reject-list tr.reject')]"
                f".map(r => r.dataset.seq).filter(s => !{sorted(before)!r}.includes(s));"
                "return seqs.length ? seqs[0] : null;",
            )
            row = f"#reject-list tr[data-seq='{new_seq}']"
            assert "no print" in await run(read, b, row)
            await run(wait_script, b, f"const i = document.querySelector(\"{row} img\");"
                                "return i && i.complete && i.naturalWidth > 100;")  # fmt: skip
            assert await run(still_marked, b)

            # --- aggregation: the count of closed cases moves ------------------------------------
            await run(open_marked, b, hmi.url + "aggregation")
            closed = number(str(await run(read, b, "#cases-closed")))
            await run(wait_text, b, "#cases-closed", lambda t: number(t) > closed)
            assert await run(still_marked, b)

            # --- audit: a hold given elsewhere shows up; the filter being typed stays ------------
            await run(open_marked, b, hmi.url + "audit")
            await run(type_filter, b, "half typed")
            await rig.rt.command(Command.HOLD, user="op.olga", reason="hold seen live")
            await rig.wait_state(PackMLState.HELD)
            await run(wait_text, b, "#audit-trail", "hold seen live")
            assert await run(b.execute_script, FILTER_VALUE) == "half typed"
            assert await run(still_marked, b)

            # --- alarms: the operator acknowledges pool-low at another panel --------------------
            await rig.wait(lambda: rig.alarm("pool-low"))
            await run(open_marked, b, hmi.url + "alarms")
            pool_low = "#active-alarms tr[data-code='pool-low']"
            await run(wait_visible, b, pool_low)
            assert "Serial pool low" in await run(read, b, pool_low)  # its title, translated
            ack = {"csrf": csrf(panel_page), "code": "pool-low", "comment": "refill ordered"}
            async with panel.post(hmi.url + "alarms/acknowledge", data=ack) as r:
                assert "acknowledged by sv.sue" in await r.text()
            await run(wait_text, b, f"{pool_low} .ack", "refill ordered")
            assert "refill ordered" in await run(read, b, "#alarm-acks")
            assert await run(still_marked, b)
            await run(b.save_screenshot, str(tmp_path / "live-alarms.png"))

            # --- a daemon restart: disconnected, the line unheld meanwhile, then live again ----
            await run(open_marked, b, hmi.url + "audit")
            await hmi.api.close()
            await run(wait_visible, b, "#disconnected")
            await rig.rt.command(Command.UNHOLD, user="op.olga", reason="unheld while cut off")
            await hmi.restart_api()
            await run(
                wait_text, b, "#audit-trail", "unheld while cut off", 60.0
            )  # after the reconnection's backoff
            assert await run(b.execute_script, BANNER_HIDDEN) is True
            assert await run(still_marked, b)
        finally:
            await stack.aclose()
            await run(b.quit)
