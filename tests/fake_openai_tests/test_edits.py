"""Edits: the input comes back recolored, masks and several images count, bad files are refused."""

from __future__ import annotations

from typing import Any

import pytest
from openai import AsyncOpenAI
from PIL import Image, ImageChops

from tests.fake_openai import FakeOpenAI
from tests.fake_openai_tests.sdk import (
    MODEL,
    changed_everywhere,
    encoded,
    hole_mask,
    images_of,
    photo,
    refusal,
    upload,
)


async def test_edit_recolors_every_pixel(client: AsyncOpenAI, fake: FakeOpenAI) -> None:
    source = photo()
    result = await client.images.edit(model=MODEL, prompt="make it night", image=upload(source))
    [img] = images_of(result)
    assert img.size == source.size and result.size == "1024x1024"
    assert changed_everywhere(img, source)
    assert result.usage is not None and result.usage.input_tokens_details.image_tokens == 65
    [recorded] = fake.requests
    assert recorded.endpoint == "edits"
    assert recorded.fields["prompt"] == "make it night" and recorded.fields["model"] == MODEL
    assert recorded.files["image"] == [("image.png", "image/png", encoded(source))]


async def test_edit_with_mask_and_several_images(client: AsyncOpenAI, fake: FakeOpenAI) -> None:
    result = await client.images.edit(
        model=MODEL,
        prompt="x",
        n=2,
        image=[upload(photo(), "a.png"), upload(photo((512, 512)), "b.png")],
        mask=upload(hole_mask(), "mask.png"),
    )
    assert len(images_of(result)) == 2
    assert [name for name, _, _ in fake.requests[0].files["image[]"]] == ["a.png", "b.png"]
    assert result.usage is not None and result.usage.input_tokens_details.image_tokens == 130


async def test_ideal_model_changes_only_the_masked_area(
    client: AsyncOpenAI, fake: FakeOpenAI
) -> None:
    fake.config.edit_changes_every_pixel = False
    source = photo()
    result = await client.images.edit(
        model=MODEL, prompt="x", image=upload(source), mask=upload(hole_mask(), "mask.png")
    )
    [img] = images_of(result)
    diff = ImageChops.difference(img.convert("RGB"), source)
    assert diff.crop((256, 256, 1024, 1024)).getbbox() is None
    hole = (0, 0, 256, 256)
    assert changed_everywhere(img.crop(hole), source.crop(hole))


async def test_edit_auto_size_follows_input_ratio(client: AsyncOpenAI) -> None:
    result = await client.images.edit(
        model="gpt-image-1.5", prompt="x", image=upload(photo((600, 900)), "p.png")
    )
    assert [img.size for img in images_of(result)] == [(1024, 1536)]


async def test_octet_stream_upload_refused(client: AsyncOpenAI, fake: FakeOpenAI) -> None:
    # Bare bytes: the SDK sends filename "upload" and application/octet-stream.
    body = await refusal(client.images.edit(model=MODEL, prompt="x", image=encoded(photo())))
    assert (body["param"], body["code"]) == ("image", "invalid_image_file")
    assert "octet-stream" in body["message"]
    assert fake.requests[0].files["image"][0][:2] == ("upload", "application/octet-stream")


@pytest.mark.parametrize(
    ("kwargs", "param", "code", "told"),
    [
        (
            {"mask": upload(hole_mask((512, 512)))},
            "mask",
            "invalid_mask",
            "its size 512x512 must match the image's size 1024x1024",
        ),
        ({"mask": upload(Image.new("L", (1024, 1024), 255))}, "mask", "invalid_mask", "alpha"),
        (
            {"mask": ("mask.jpg", encoded(Image.new("RGB", (1024, 1024)), "JPEG"), "image/jpeg")},
            "mask",
            "invalid_mask",
            "image/jpeg",
        ),
        ({"image": ("a.png", b"not a png", "image/png")}, "image", "invalid_image_file", "decode"),
        ({"input_fidelity": "high"}, "input_fidelity", "invalid_value", "input_fidelity"),
        ({"extra_body": {"moderation": "low"}}, "moderation", "unknown_parameter", "moderation"),
    ],
)
async def test_edit_refuses_what_the_api_refuses(
    client: AsyncOpenAI, kwargs: dict[str, Any], param: str, code: str, told: str
) -> None:
    call: dict[str, Any] = {"model": MODEL, "prompt": "x", "image": upload(photo()), **kwargs}
    body = await refusal(client.images.edit(**call))
    assert (body["param"], body["code"]) == (param, code)
    assert told in body["message"]
