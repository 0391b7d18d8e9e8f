"""The HMI across a daemon restart: the screen says "disconnected", then goes live by itself."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from linectl.line.control import Command
from tests.e2e.hmi_line import hmi_line
from tests.hmi.browser import chromium, log_in, wait_text, wait_visible

pytestmark = pytest.mark.e2e


def number(text: str) -> int:
    return int("".join(ch for ch in text if ch.isdigit()) or "0")


async def test_the_hmi_shows_disconnected_while_the_daemon_is_gone_and_goes_live_again(
    tmp_path: Path,
) -> None:
    async with hmi_line(tmp_path, packs=400, pool=450, packs_per_minute=600) as hmi:
        password = await asyncio.to_thread(hmi.people.add, "op.olga", "operator", "Olga Op")
        browser = await asyncio.to_thread(chromium, tmp_path / "chromium")
        try:
            await asyncio.to_thread(log_in, browser, hmi.url, "op.olga", password)
            await asyncio.to_thread(browser.get, hmi.url)
            await asyncio.to_thread(wait_text, browser, "[data-field=state]", "Stopped")
            banner = await asyncio.to_thread(browser.find_element, "id", "disconnected")
            assert not banner.is_displayed()

            await hmi.api.close()  # the daemon's API goes away, as in a restart
            await asyncio.to_thread(wait_visible, browser, "#disconnected")
            assert "Disconnected from the line" in banner.text
            await asyncio.to_thread(browser.save_screenshot, str(tmp_path / "disconnected.png"))

            await hmi.restart_api()  # back on the same address
            await asyncio.to_thread(
                lambda: wait_text(browser, "#disconnected", lambda t: not banner.is_displayed())
            )
            await hmi.rig.rt.command(Command.START, user="alice", reason="after the restart")
            await asyncio.to_thread(wait_text, browser, "[data-field=state]", "Execute")
            await asyncio.to_thread(
                wait_text, browser, "[data-field=good]", lambda t: number(t) >= 10
            )
            assert not banner.is_displayed()
        finally:
            await asyncio.to_thread(browser.quit)
