"""The verification page in headless Chromium, in English and German: what a consumer sees.

Selenium drives the system's chromium and chromedriver (Debian packages; .ci/run installs them).
Each page is read as text and saved as a PNG screenshot, which must be a real, non-blank image.
"""

from __future__ import annotations

import asyncio
import shutil
import struct
from collections.abc import Iterator
from pathlib import Path

import pytest
from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By

from tests.resolver.kit import GTIN, LOT, Client, commissioning, document

FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--window-size=412,915",  # a phone
)


@pytest.fixture
def browser() -> Iterator[webdriver.Chrome]:
    chromium = shutil.which("chromium")
    driver_path = shutil.which("chromedriver")
    if chromium is None or driver_path is None:
        pytest.fail(
            "chromium / chromedriver not found: .ci/run installs chromium and chromium-driver"
        )
    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    for flag in FLAGS:
        options.add_argument(flag)
    driver = webdriver.Chrome(options=options, service=Service(driver_path))
    try:
        yield driver
    finally:
        driver.quit()


def _png_size(path: Path) -> tuple[int, int]:
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    width, height = struct.unpack(">II", data[16:24])
    return width, height


def _visit(driver: webdriver.Chrome, url: str, shot: Path) -> tuple[str, str]:
    driver.get(url)
    text = driver.find_element(By.TAG_NAME, "body").text
    verdict = driver.find_element(By.ID, "verdict").get_attribute("data-verdict") or ""
    driver.save_screenshot(str(shot))
    return text, verdict


async def test_the_page_says_genuine_then_scanned_before_in_english_and_german(
    resolver: Client, browser: webdriver.Chrome, tmp_path: Path
) -> None:
    await resolver.capture(document(commissioning(["W1", "W2"])))
    page = f"{resolver.base}/verify/01/{GTIN}/10/{LOT}/21/W1"
    text, verdict = await asyncio.to_thread(
        _visit, browser, page + "?lang=en&country=DE", tmp_path / "en-1.png"
    )
    assert verdict == "genuine"
    assert "Genuine product" in text and "This is its first scan." in text
    assert "Ibuprofen 400 mg, 20 tablets" in text and "November 30, 2028" in text
    text, verdict = await asyncio.to_thread(
        _visit, browser, page + "?lang=de", tmp_path / "de-2.png"
    )
    assert verdict == "scanned-before"
    assert "Echt, aber schon gescannt" in text
    assert "bereits 1-mal gescannt" in text and "in Deutschland" in text
    assert "Ibuprofen 400 mg, 20 Tabletten" in text and "30. November 2028" in text
    unknown = f"{resolver.base}/verify/01/{GTIN}/10/{LOT}/21/FAKE1?lang=de"
    text, verdict = await asyncio.to_thread(_visit, browser, unknown, tmp_path / "de-fake.png")
    assert verdict == "unknown" and "Mögliche Fälschung" in text
    for shot in ("en-1.png", "de-2.png", "de-fake.png"):
        width, height = _png_size(tmp_path / shot)
        assert width >= 300 and height >= 300
        assert (tmp_path / shot).stat().st_size > 5_000  # text and colour, not a blank page
