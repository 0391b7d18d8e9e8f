"""The HMI's overview in a real browser against the simulated line: live counters, state."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from linectl.line.control import Command
from simulators.line import Defect
from standards.packml import PackMLState
from tests.e2e.ground_truth import assert_rejects
from tests.e2e.hmi_line import hmi_line
from tests.e2e.rig import ScriptedFaults
from tests.hmi.browser import chromium, csp_violations, log_in, text_of, wait_text

pytestmark = pytest.mark.e2e

PACKS = 300
FORCED = {40, 90, 160}  # the packs printed without a code
WATCH_LISTS = """
window.__rebuilt = 0;
const count = () => { window.__rebuilt += 1; };
for (const id of ["devices", "alarms"]) {
  new MutationObserver(count).observe(document.getElementById(id), {childList: true});
}
"""


def number(text: str) -> int:
    return int("".join(ch for ch in text if ch.isdigit()) or "0")


async def test_the_overview_shows_the_line_running_live_in_chromium(tmp_path: Path) -> None:
    faults = ScriptedFaults(seed=3, forced=dict.fromkeys(FORCED, Defect.NO_PRINT))
    async with hmi_line(
        tmp_path, packs=PACKS, pool=PACKS + 50, faults=faults, packs_per_minute=1200
    ) as hmi:
        password = await asyncio.to_thread(hmi.people.add, "op.olga", "operator", "Olga Op")
        browser = await asyncio.to_thread(chromium, tmp_path / "chromium")
        try:
            await asyncio.to_thread(log_in, browser, hmi.url, "op.olga", password)
            await asyncio.to_thread(browser.get, hmi.url)
            assert hmi.rig.rt.status()["state"]["name"] == "STOPPED"
            await asyncio.to_thread(wait_text, browser, "[data-field=state]", "Stopped")
            await hmi.rig.rt.command(Command.START, user="alice", reason="HMI test")
            # the counters move while the line runs
            first = await asyncio.to_thread(
                wait_text, browser, "[data-field=good]", lambda t: number(t) >= 20
            )
            await asyncio.to_thread(wait_text, browser, "[data-field=state]", "Execute")
            await asyncio.to_thread(browser.execute_script, WATCH_LISTS)
            later = await asyncio.to_thread(
                wait_text, browser, "[data-field=good]", lambda t: number(t) > number(first) + 20
            )
            assert number(later) > number(first)
            # a push rewrites only what changed: the devices and alarms stayed, so did their lists
            assert await asyncio.to_thread(browser.execute_script, "return window.__rebuilt") == 0
            # PACKS bounds the steps above: the line ends 20 packs after the last forced reject
            fed = hmi.rig.end_after(20, not_before=max(FORCED) + 20)
            await hmi.rig.wait_state(PackMLState.COMPLETE)
            await hmi.rig.rt.line_end_done()
            status = hmi.rig.rt.status()
            good = status["counters"]["verdicts_good"]
            rejects = status["counters"]["verdicts_reject"]
            assert rejects == len(assert_rejects(hmi.rig, FORCED))  # + any late one
            await asyncio.to_thread(
                wait_text, browser, "[data-field=good]", lambda t: number(t) == good
            )
            await asyncio.to_thread(wait_text, browser, "[data-field=reject]", str(rejects))
            await asyncio.to_thread(wait_text, browser, "[data-field=state]", "Complete")
            shot = tmp_path / "overview.png"
            await asyncio.to_thread(browser.save_screenshot, str(shot))
            page = await asyncio.to_thread(text_of, browser, "main")
            assert f"{good:,}" in page and f"{100 * rejects / fed:.2f}%" in page, page
            assert "printer" in page and "connected" in page  # each device's health
            assert shot.stat().st_size > 10_000
            assert await asyncio.to_thread(csp_violations, browser) == []
        finally:
            await asyncio.to_thread(browser.quit)
