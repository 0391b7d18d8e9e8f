"""The HMI's rejects screen in Chromium: rejected packs with time, seq, reason and camera image
(zoomable), the Pareto chart of the batch's reject reasons and the reject rate over time."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from selenium.webdriver.common.by import By

from linectl.hmi.i18n import load_translations
from linectl.line.control import Command
from simulators.line import Defect
from standards.packml import PackMLState
from tests.e2e.hmi_line import hmi_line
from tests.e2e.rig import ScriptedFaults
from tests.hmi.browser import chromium, csp_violations, log_in, text_of, wait_visible

pytestmark = pytest.mark.e2e

PACKS = 140  # the forced rejects and 20 packs after the last
FORCED = {30: Defect.NO_PRINT, 60: Defect.NO_PRINT, 90: Defect.NO_PRINT, 120: Defect.WRONG_CONTENT}


async def test_the_rejects_screen_shows_each_rejected_pack_with_its_image_and_a_pareto(
    tmp_path: Path,
) -> None:
    faults = ScriptedFaults(seed=4, forced=FORCED)
    async with hmi_line(tmp_path, packs=PACKS, pool=PACKS + 50, faults=faults) as hmi:
        await hmi.rig.rt.command(Command.START, user="alice", reason="HMI rejects test")
        await hmi.rig.wait_state(PackMLState.COMPLETE)
        await hmi.rig.rt.line_end_done()
        rejected = {seq: reason for seq, (_, verdict, reason) in hmi.rig.units().items() if reason}
        forced = {"no-print": 3, "wrong-content": 1}  # a starved CPU may add a late one
        assert all(list(rejected.values()).count(r) == n for r, n in forced.items()), rejected
        password = await asyncio.to_thread(hmi.people.add, "op.olga", "operator", "Olga Op")
        browser = await asyncio.to_thread(chromium, tmp_path / "chromium")
        try:
            await asyncio.to_thread(log_in, browser, hmi.url, "op.olga", password)
            await asyncio.to_thread(browser.get, hmi.url + "rejects")
            await asyncio.to_thread(wait_visible, browser, "#pareto .main-svg")
            rows = await asyncio.to_thread(
                browser.find_elements, By.CSS_SELECTOR, "#reject-list tr.reject"
            )
            shown = {}
            for row in rows:
                seq = int(row.find_element(By.CSS_SELECTOR, ".seq").text)
                shown[seq] = row.find_element(By.CSS_SELECTOR, ".reason").text
            english = load_translations()["en"]
            assert shown == {seq: english.gettext(f"reason:{r}") for seq, r in rejected.items()}
            # every image arrived from the daemon's ring and is a real frame
            sizes = await asyncio.to_thread(
                browser.execute_script,
                "return Array.from(document.querySelectorAll('.reject-image'))"
                ".map(i => [i.complete, i.naturalWidth, i.naturalHeight])",
            )
            assert len(sizes) == len(rejected) and all(
                ok and w >= 100 and h >= 100 for ok, w, h in sizes
            )
            # the Pareto: reasons by count, most frequent first, and the cumulative share
            await asyncio.to_thread(wait_visible, browser, "#rate-chart .main-svg")
            pareto = await asyncio.to_thread(text_of, browser, "#pareto")
            assert pareto.index("no print") < pareto.index("wrong content"), pareto
            bars, cumulative = await asyncio.to_thread(
                browser.execute_script,
                "const d = document.getElementById('pareto').data;"
                "return [[d[0].x, d[0].y], d[1].y];",
            )
            names, counts = bars
            assert counts == sorted(counts, reverse=True)  # most frequent first
            assert counts[names.index("no print")] >= 3
            assert counts[names.index("wrong content")] >= 1
            assert cumulative[-1] == pytest.approx(1.0)
            drawn = await asyncio.to_thread(
                browser.find_elements, By.CSS_SELECTOR, "#pareto .bars .point"
            )
            assert len(drawn) == len(names)
            shot = tmp_path / "rejects.png"
            await asyncio.to_thread(browser.save_screenshot, str(shot))
            first = rows[0].find_element(By.CSS_SELECTOR, ".reject-image")
            await asyncio.to_thread(first.click)
            assert "zoomed" in (first.get_attribute("class") or "")
            await asyncio.to_thread(browser.save_screenshot, str(tmp_path / "rejects-zoom.png"))
            assert await asyncio.to_thread(csp_violations, browser) == []
        finally:
            await asyncio.to_thread(browser.quit)
