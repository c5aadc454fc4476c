"""Fixtures shared by the browser tests (tests/test_browser.py, tests/test_site_browser.py)."""
import pytest

from test_browser import CHROMIUM, _require_browser


@pytest.fixture(scope="module")
def browser():
    """Debian's headless Chromium through Playwright, with background networking switched off."""
    _require_browser()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(
            executable_path=CHROMIUM, headless=True,
            args=["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                  "--disable-background-networking", "--disable-component-update",
                  "--no-first-run", "--disable-sync"])
        yield chromium
        chromium.close()
