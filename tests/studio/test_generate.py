"""Generating in the browser: images appear one by one as the service streams them."""

from __future__ import annotations

from pathlib import Path

from playwright.async_api import Browser, Page

from tests.fake_openai import FakeOpenAI
from tests.studio.conftest import open_studio
from tests.support.harness import Harness, decode

READY = ".tile.ready"


async def _ready_count_becomes(page: Page, count: int) -> None:
    # Polled every animation frame: a jump from one image to three would never match two.
    await page.wait_for_function(
        "n => document.querySelectorAll('#page-generate .tile.ready').length === n", arg=count
    )


async def test_three_images_show_as_they_arrive(
    browser: Browser, harness: Harness, upstream: FakeOpenAI, tmp_path: Path
) -> None:
    # Seconds apart, so each image is on screen alone for a while before the next.
    upstream.config.next_latencies = [0.0, 1.5, 3.0]
    page = await open_studio(browser, harness)
    problems: list[str] = []
    page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
    section = page.locator("#page-generate")
    await section.get_by_label("Prompt").fill("three lighthouses")
    await section.get_by_label("Images").fill("3")
    await section.get_by_label("Aspect ratio").select_option("3:2")
    await section.get_by_role("button", name="Generate").click()

    await section.locator(".tile").nth(2).wait_for()  # a tile per image, before any arrives
    for count in (1, 2, 3):
        await _ready_count_becomes(page, count)
    await section.get_by_text("Done: 3 images").wait_for()
    assert await section.locator(".tile.failed").count() == 0

    # A download is the image's own bytes under its own name.
    tile = section.locator(READY).first
    link = tile.get_by_role("link")
    async with page.expect_download() as info:
        await link.click()
    download = await info.value
    saved = tmp_path / download.suggested_filename
    await download.save_as(saved)
    name = str(await link.get_attribute("download"))
    assert download.suggested_filename == name and name.endswith(".png")
    image = decode(saved.read_bytes())
    assert image.width * 2 == image.height * 3
    stored = [p for p in harness.data_dir.rglob(name) if p.is_file()]
    assert stored and stored[0].read_bytes() == saved.read_bytes()
    assert problems == []


async def test_a_wrong_key_is_told_in_words(browser: Browser, harness: Harness) -> None:
    page = await open_studio(browser, harness, key="not-a-key")
    section = page.locator("#page-generate")
    await section.get_by_label("Prompt").fill("a cat")
    await section.get_by_role("button", name="Generate").click()
    alert = section.locator(".message")
    await alert.get_by_text("The API key was not accepted").wait_for()
    assert "Check it and enter it again" in await alert.inner_text()


async def test_a_refused_request_names_the_field(studio: Page) -> None:
    section = studio.locator("#page-generate")
    await section.get_by_label("Prompt").fill("a cat")
    await section.get_by_label("Format").select_option("jpeg")
    await section.get_by_label("Background").select_option("transparent")
    await section.get_by_role("button", name="Generate").click()
    alert = section.locator(".message")
    await alert.wait_for()
    assert "background" in await alert.inner_text()
