"""Editing in the browser, from an uploaded file or a URL."""

from __future__ import annotations

from pathlib import Path

from playwright.async_api import Page

from tests.support.harness import ImageHost, png


async def test_an_uploaded_image_is_edited(studio: Page, tmp_path: Path) -> None:
    await studio.get_by_role("link", name="Edit").click()
    section = studio.locator("#page-edit")
    path = tmp_path / "in.png"
    path.write_bytes(png((600, 400)))
    await section.get_by_label("Prompt").fill("make it blue")
    await section.get_by_label("File").set_input_files(path)
    await section.get_by_label("Images").fill("2")
    await section.get_by_role("button", name="Edit").click()
    await section.get_by_text("Done: 2 images").wait_for()
    assert await section.locator(".tile.ready img").count() == 2


async def test_an_image_by_url_and_the_choice_is_explained(
    studio: Page, image_host: ImageHost
) -> None:
    await studio.get_by_role("link", name="Edit").click()
    section = studio.locator("#page-edit")
    await section.get_by_label("Prompt").fill("make it blue")
    await section.get_by_role("button", name="Edit").click()
    alert = section.get_by_role("alert")
    await alert.get_by_text("Choose an image file or give its URL").wait_for()

    await section.get_by_label("or URL").fill(image_host.put("in.png", png((512, 512))))
    await section.get_by_role("button", name="Edit").click()
    await section.get_by_text("Done: 1 images").wait_for()
