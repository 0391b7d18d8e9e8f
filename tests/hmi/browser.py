"""A real headless Chromium for the HMI tests (Debian ``chromium`` + ``chromium-driver``).

Missing binaries fail the test with what to install (``.ci/run`` installs them when missing);
nothing is skipped. Each browser gets its own profile in the test's temporary directory.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from selenium import webdriver
from selenium.common.exceptions import StaleElementReferenceException, WebDriverException
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.support import expected_conditions
from selenium.webdriver.support.ui import WebDriverWait

CHROMIUM = ("chromium", "chromium-browser")
DRIVER = "chromedriver"
WAIT_S = 30.0


def find(names: tuple[str, ...]) -> str:
    for name in names:
        if path := shutil.which(name):
            return path
    raise AssertionError(
        f"{' or '.join(names)} not found: install the Debian packages chromium and "
        "chromium-driver (.ci/run installs them when missing)"
    )


def chromium(profile: Path, width: int = 1280, height: int = 800) -> WebDriver:
    """A headless Chromium sized like the line's touch panel, trusting the HMI's own cert."""
    options = webdriver.ChromeOptions()
    options.binary_location = find(CHROMIUM)
    for flag in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--disable-background-networking",
        "--disable-component-update",
        "--no-first-run",
        f"--user-data-dir={profile}",
        f"--window-size={width},{height}",
    ):
        options.add_argument(flag)
    options.accept_insecure_certs = True  # the HMI's self-signed certificate
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(options=options, service=Service(find((DRIVER,))))
    driver.set_page_load_timeout(WAIT_S)
    return driver


def text_of(driver: WebDriver, css: str) -> str:
    """The element's text; found again if a live update replaced it between find and read."""
    for _ in range(20):
        try:
            return str(driver.find_element(By.CSS_SELECTOR, css).text)
        except (StaleElementReferenceException, WebDriverException) as exc:
            if not replaced(exc):
                raise
            continue
    return str(driver.find_element(By.CSS_SELECTOR, css).text)


def wait_text(driver: WebDriver, css: str, predicate: object, timeout: float = WAIT_S) -> str:
    """Wait until the element's text satisfies ``predicate`` (a callable or a substring)."""

    def ok(d: WebDriver) -> list[str] | bool:
        try:
            text = text_of(d, css)
        except Exception:
            return False
        good = predicate(text) if callable(predicate) else str(predicate) in text
        return [text] if good else False  # a list: an empty text is a result too

    try:
        return str(WebDriverWait(driver, timeout, poll_frequency=0.1).until(ok)[0])
    except Exception as exc:
        try:
            shown = text_of(driver, css)
        except Exception:
            shown = "(element missing)"
        raise AssertionError(
            f"{css}: waited {timeout:g} s for {predicate!r}, shows {shown!r}"
        ) from exc


def wait_script(driver: WebDriver, script: str, timeout: float = WAIT_S) -> object:
    """Wait until ``script`` (JavaScript returning a value) returns something true; that."""
    return WebDriverWait(driver, timeout, poll_frequency=0.1).until(
        lambda d: d.execute_script(script), message=script
    )


def wait_visible(driver: WebDriver, css: str, timeout: float = WAIT_S) -> None:
    visible = expected_conditions.visibility_of_element_located((By.CSS_SELECTOR, css))

    def ok(d: WebDriver) -> object:
        try:
            return visible(d)
        except WebDriverException as exc:
            if not replaced(exc):
                raise
            return False  # a live update replaced the element while Chrome looked at it

    WebDriverWait(driver, timeout, poll_frequency=0.1).until(ok)


def replaced(exc: WebDriverException) -> bool:
    """Whether ``exc`` says the element was swapped out of the page (a live update), so
    looking again is right: stale, or Chrome's 'does not belong to the document'."""
    return isinstance(exc, StaleElementReferenceException) or "does not belong to the document" in (
        exc.msg or ""
    )


def csp_violations(driver: WebDriver) -> list[str]:
    """Console messages about the Content Security Policy (there must be none)."""
    return [
        str(entry["message"])
        for entry in driver.get_log("browser")
        if "Content Security Policy" in str(entry.get("message", ""))
    ]


def log_in(driver: WebDriver, url: str, user: str, password: str) -> None:
    """Log in through the login form, as a person would."""
    driver.get(url + "login")
    driver.find_element(By.ID, "user-name").send_keys(user)
    driver.find_element(By.ID, "password").send_keys(password)
    driver.find_element(By.ID, "login-button").click()
    wait_visible(driver, "#user")


def log_out(driver: WebDriver) -> None:
    driver.find_element(By.ID, "logout").click()
    wait_visible(driver, "#login-form")


def post_form(driver: WebDriver, path: str, fields: dict[str, str]) -> tuple[int, str]:
    """POST ``fields`` from the page with fetch (same origin, the session's cookie), as a forged
    or hand-made request would: (status, body text)."""
    result = driver.execute_async_script(
        """
        const [path, fields, done] = arguments;
        fetch(path, {method: "POST", body: new URLSearchParams(fields), redirect: "manual"})
          .then(r => r.text().then(t => done([r.status, t])))
          .catch(e => done([0, String(e)]));
        """,
        path,
        fields,
    )
    return int(result[0]), str(result[1])


def csrf_of(driver: WebDriver) -> str:
    return str(driver.find_element(By.CSS_SELECTOR, "input[name=csrf]").get_attribute("value"))
