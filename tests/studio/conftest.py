"""A real headless Chromium (Debian's, driven by Playwright) on the harness's studio."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from playwright.async_api import Browser, Page, async_playwright

from tests.support.harness import API_KEY, Harness

CHROMIUM = "/usr/bin/chromium"
# No network but loopback: nothing a test does may reach out (updates, sync, QUIC probes).
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@pytest.fixture
async def browser() -> AsyncIterator[Browser]:
    async with async_playwright() as playwright:
        chromium = await playwright.chromium.launch(
            executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True
        )
        try:
            yield chromium
        finally:
            await chromium.close()


def studio_url(harness: Harness) -> str:
    return f"http://127.0.0.1:{harness.service.http_port}/studio/"


async def open_studio(browser: Browser, harness: Harness, key: str = API_KEY) -> Page:
    """The studio on a laptop-sized screen, with `key` entered."""
    page = await browser.new_page(viewport={"width": 1366, "height": 768}, accept_downloads=True)
    await page.goto(studio_url(harness))
    await page.get_by_label("API key").fill(key)
    await page.get_by_role("button", name="Use key").click()
    return page


@pytest.fixture
async def studio(browser: Browser, harness: Harness) -> AsyncIterator[Page]:
    page = await open_studio(browser, harness)
    yield page
    await page.close()


async def mask_width_becomes(page: Page, width: int) -> None:
    """Waits for the inpaint page's mask canvas to take the uploaded image's width. A function,
    not an expression: Playwright re-polls an expression with eval(), which the studio's CSP
    refuses whenever the first check is not already true."""
    await page.wait_for_function("w => document.getElementById('i-mask').width === w", arg=width)
