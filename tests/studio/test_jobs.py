"""The jobs and usage pages. They need the HTTP job routes (GET /jobs, /jobs/{id}/watch,
/usage, POST /jobs/{id}/cancel); until the service has them these tests skip themselves."""

from __future__ import annotations

import aiohttp
import pytest
from playwright.async_api import Page

from tests.fake_openai import FakeOpenAI
from tests.support.harness import API_KEY, Harness


async def _needs_route(harness: Harness, route: str) -> None:
    url = f"http://127.0.0.1:{harness.service.http_port}/api/v1/openai{route}"
    async with aiohttp.ClientSession() as http, http.get(url, headers={"X-API-Key": API_KEY}) as r:
        if r.status == 404:
            pytest.skip(f"the service has no HTTP route {route} yet")


async def _generate(page: Page, prompt: str) -> None:
    section = page.locator("#page-generate")
    await section.get_by_label("Prompt").fill(prompt)
    await section.get_by_role("button", name="Generate").click()


async def test_jobs_are_listed_and_a_running_one_is_cancelled(
    studio: Page, harness: Harness, upstream: FakeOpenAI
) -> None:
    await _needs_route(harness, "/jobs")
    await _generate(studio, "a quick one")
    await studio.locator("#page-generate").get_by_text("Done: 1 images").wait_for()
    upstream.config.hang_next = 1  # the next job runs until it is cancelled
    await _generate(studio, "a slow one")
    await studio.locator("#page-generate").get_by_text("rendering 1").wait_for()

    await studio.get_by_role("link", name="Jobs").click()
    table = studio.locator("#jobs-table")
    await table.get_by_role("cell", name="succeeded").wait_for()
    await table.get_by_role("cell", name="running").wait_for()
    assert await table.locator("img.thumb").count() >= 1
    await table.get_by_role("button", name="Cancel job").click()
    await table.get_by_role("cell", name="cancelled").wait_for()
    await studio.get_by_role("link", name="Generate").click()
    await studio.locator("#page-generate .message").wait_for()


async def test_usage_is_summed(studio: Page, harness: Harness) -> None:
    await _needs_route(harness, "/usage")
    await _generate(studio, "a quick one")
    await studio.locator("#page-generate").get_by_text("Done: 1 images").wait_for()
    await studio.get_by_role("link", name="Usage").click()
    await studio.locator("#usage-summary dt").first.wait_for()
