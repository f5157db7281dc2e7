"""A screenshot of each page in use, for the README. They go to a temporary folder; to refresh
the ones in docs/:

    VISIONSTUDIO_SCREENSHOTS=docs .venv/bin/pytest tests/studio/test_screenshots.py
"""

from __future__ import annotations

import os
from pathlib import Path

from playwright.async_api import Page

from tests.studio.conftest import mask_width_becomes
from tests.support.pictures import encode_png, photo


async def test_each_page_has_a_screenshot(studio: Page, tmp_path: Path) -> None:
    folder = Path(os.environ.get("VISIONSTUDIO_SCREENSHOTS", tmp_path))
    section = studio.locator("#page-generate")
    await section.get_by_label("Prompt").fill("a lighthouse at dusk, three moods")
    await section.get_by_label("Images").fill("3")
    await section.get_by_role("button", name="Generate").click()
    await section.get_by_text("Done: 3 images").wait_for()
    await studio.screenshot(path=folder / "studio-generate.png")

    await studio.get_by_role("link", name="Edit").click()
    await studio.locator("#page-edit").get_by_label("Prompt").fill("the same, in winter")
    await studio.screenshot(path=folder / "studio-edit.png")

    await studio.get_by_role("link", name="Inpaint").click()
    inpaint = studio.locator("#page-inpaint")
    picture = tmp_path / "photo.png"
    picture.write_bytes(encode_png(photo((768, 512))))
    await inpaint.get_by_label("Prompt").fill("a red door")
    await inpaint.get_by_label("Image", exact=True).set_input_files(picture)
    mask = inpaint.locator("#i-mask")
    await mask_width_becomes(studio, 768)
    await mask.scroll_into_view_if_needed()
    box = await mask.bounding_box()
    assert box is not None
    await studio.mouse.move(box["x"] + box["width"] * 0.4, box["y"] + box["height"] * 0.4)
    await studio.mouse.down()
    await studio.mouse.move(box["x"] + box["width"] * 0.6, box["y"] + box["height"] * 0.6, steps=6)
    await studio.mouse.up()
    await studio.screenshot(path=folder / "studio-inpaint.png", full_page=True)

    for name in ("jobs", "usage"):
        await studio.get_by_role("link", name=name.title()).click()
        await studio.screenshot(path=folder / f"studio-{name}.png")
    assert all((folder / f"studio-{n}.png").stat().st_size for n in ("generate", "jobs"))
