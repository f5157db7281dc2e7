"""Inpainting in the browser: a mask painted with the mouse (or the keyboard), a border grown
with a live preview; what the service returns keeps every pixel outside the mask."""

from __future__ import annotations

from pathlib import Path

from PIL import Image, ImageChops
from playwright.async_api import Locator, Page

from tests.studio.conftest import mask_width_becomes
from tests.support.harness import decode
from tests.support.pictures import encode_png, photo

BRUSH = 48  # the page's default brush, in screen pixels
FEATHER = 12  # the service softens the mask's edge by about this much


async def _upload(page: Page, tmp_path: Path, size: tuple[int, int]) -> tuple[Locator, Image.Image]:
    await page.get_by_role("link", name="Inpaint").click()
    section = page.locator("#page-inpaint")
    original = photo(size)
    path = tmp_path / "photo.png"
    path.write_bytes(encode_png(original))
    await section.get_by_label("Image", exact=True).set_input_files(path)
    await mask_width_becomes(page, size[0])
    return section, original


async def _result(page: Page, section: Locator, tmp_path: Path) -> Image.Image:
    await section.get_by_role("button", name="Inpaint").click()
    await section.get_by_text("Done: 1 images").wait_for()
    async with page.expect_download() as info:
        await section.locator(".tile.ready").get_by_role("link").click()
    saved = tmp_path / "result"
    await (await info.value).save_as(saved)
    return decode(saved.read_bytes()).convert("RGB")


async def test_a_painted_mask_changes_only_what_was_painted(studio: Page, tmp_path: Path) -> None:
    section, original = await _upload(studio, tmp_path, (640, 480))
    await section.get_by_label("Prompt").fill("a red door")
    mask = section.locator("#i-mask")
    await mask.scroll_into_view_if_needed()
    box = await mask.bounding_box()
    assert box is not None
    scale = original.width / box["width"]
    # One stroke across the middle, in screen pixels relative to the canvas.
    start, end, y = box["width"] * 0.3, box["width"] * 0.6, box["height"] * 0.5
    await studio.mouse.move(box["x"] + start, box["y"] + y)
    await studio.mouse.down()
    await studio.mouse.move(box["x"] + end, box["y"] + y, steps=8)
    await studio.mouse.up()

    result = await _result(studio, section, tmp_path)
    assert result.size == original.size
    half = BRUSH / 2
    painted = [round(v * scale) for v in (start - half, y - half, end + half, y + half)]
    diff = ImageChops.difference(result, original).convert("L")
    outside = diff.copy()
    outside.paste(
        0, (painted[0] - FEATHER, painted[1] - FEATHER, painted[2] + FEATHER, painted[3] + FEATHER)
    )
    assert outside.getbbox() is None, "pixels outside the painted mask changed"
    inner = diff.crop(
        (painted[0] + FEATHER, painted[1] + FEATHER, painted[2] - FEATHER, painted[3] - FEATHER)
    )
    assert inner.getextrema()[0] > 0, "the painted area was not repainted"  # type: ignore[operator]


async def test_the_keyboard_paints_too_and_an_empty_mask_is_refused(
    studio: Page, tmp_path: Path
) -> None:
    section, _ = await _upload(studio, tmp_path, (512, 512))
    await section.get_by_label("Prompt").fill("a window")
    await section.get_by_role("button", name="Inpaint").click()
    await section.get_by_role("alert").get_by_text("Paint the area to repaint").wait_for()

    await section.locator("#i-mask").focus()
    await studio.keyboard.press("Space")
    for _ in range(3):
        await studio.keyboard.press("ArrowRight")
    await studio.keyboard.press("Space")
    result = await _result(studio, section, tmp_path)
    assert result.size == (512, 512)


async def test_a_border_shows_the_grown_canvas_before_it_is_sent(
    studio: Page, tmp_path: Path
) -> None:
    section, original = await _upload(studio, tmp_path, (600, 400))
    await section.get_by_label("Prompt").fill("more meadow")
    await section.get_by_label("A new border around it").check()
    slider = section.get_by_label("Border on every side")
    await slider.focus()
    for _ in range(10):  # 10 % -> 20 %, by keyboard
        await studio.keyboard.press("ArrowRight")
    await section.get_by_text("grows to about 840\u00d7560 px").wait_for()
    preview = section.locator("#i-grown")
    width, height = await preview.evaluate("c => [c.width, c.height]")
    assert abs(width / height - 840 / 560) < 0.01

    result = await _result(studio, section, tmp_path)
    assert result.size == (840, 560)
    middle = result.crop((120, 80, 720, 480))
    assert ImageChops.difference(middle, original).getbbox() is None
