"""The reference API's own examples over the JSON surface: real sockets, loopback upstream."""

from __future__ import annotations

import asyncio
import base64
from typing import Any

import pytest

from tests.fake_openai import FakeOpenAI
from tests.support.harness import ImageHost, decode, png
from tests.support.json_api import EDIT, GENERATE, INPAINT, Api, b64, load, sizes
from tests.support.pictures import alpha_mask


async def test_basic_generation(api: Api, upstream: FakeOpenAI) -> None:
    answer = await api.post(GENERATE, {"prompt": "A serene mountain landscape at sunset"})
    assert answer.status == 200 and answer.body["success"] is True
    data = answer.body["data"]
    assert data["model"] == "gpt-image-2.5-flare" and data["job_id"]
    (image,) = data["images"]
    fields = {"index", "url", "image_id", "width", "height", "mime_type", "size_bytes"}
    assert set(image) == fields  # no "data" unless include_data
    assert (image["index"], image["width"], image["height"]) == (0, 1024, 1024)
    assert image["mime_type"] == "image/png"
    usage = data["usage"]
    assert usage["output_tokens"] > 0
    assert usage["total_tokens"] == usage["input_tokens"] + usage["output_tokens"]
    # The URL loads without a key, as in a browser.
    status, content_type, body = await load(image["url"])
    assert (status, content_type) == (200, "image/png")
    assert len(body) == image["size_bytes"] and decode(body).size == (1024, 1024)
    assert upstream.requests[-1].endpoint == "generations"


async def test_portrait_high_quality(api: Api, upstream: FakeOpenAI) -> None:
    answer = await api.post(
        GENERATE,
        {"prompt": "A portrait of a wise old wizard", "aspect_ratio": "2:3", "quality": "high"},
    )
    assert answer.status == 200
    assert sizes(answer) == [(1024, 1536)]
    assert upstream.requests[-1].fields["quality"] == "high"


async def test_four_landscape_images(api: Api, upstream: FakeOpenAI) -> None:
    answer = await api.post(
        GENERATE,
        {"prompt": "Futuristic city skyline", "number_of_images": 4, "aspect_ratio": "3:2"},
    )
    assert answer.status == 200
    images = answer.body["data"]["images"]
    assert [i["index"] for i in images] == [0, 1, 2, 3]  # sorted by index
    assert sizes(answer) == [(1536, 1024)] * 4
    assert len({i["image_id"] for i in images}) == 4 and len(upstream.requests) == 4


async def test_transparent_background(api: Api) -> None:
    answer = await api.post(
        GENERATE, {"prompt": "A cute cartoon cat sticker", "background": "transparent"}
    )
    assert answer.status == 200
    (image,) = answer.body["data"]["images"]
    status, content_type, body = await load(image["url"])
    assert (status, content_type) == (200, "image/png")
    img = decode(body)
    assert img.format == "PNG" and img.mode == "RGBA"
    assert img.getchannel("A").getextrema() == (0, 255)


async def test_edit_by_url(api: Api, upstream: FakeOpenAI, image_host: ImageHost) -> None:
    url = image_host.put("photo.png", png((800, 600)))
    answer = await api.post(EDIT, {"prompt": "Make it a night scene", "image_url": url})
    assert answer.status == 200
    assert sizes(answer) == [(1024, 768)]  # 800x600 is 4:3
    assert upstream.requests[-1].endpoint == "edits"


async def test_style_transformation_with_two_results(
    api: Api, upstream: FakeOpenAI, image_host: ImageHost
) -> None:
    url = image_host.put("photo.png", png((512, 512)))
    answer = await api.post(
        EDIT,
        {"prompt": "Transform into Van Gogh style", "image_url": url, "number_of_images": 2},
    )
    assert answer.status == 200
    assert [i["index"] for i in answer.body["data"]["images"]] == [0, 1]
    assert len(upstream.requests) == 2


async def test_inpaint_with_mask_url(api: Api, image_host: ImageHost) -> None:
    image_url = image_host.put("room.png", png((640, 480)))
    mask_url = image_host.put("mask.png", alpha_mask((640, 480), (200, 150, 440, 330)))
    answer = await api.post(
        INPAINT, {"prompt": "Add a red door", "image_url": image_url, "mask_url": mask_url}
    )
    assert answer.status == 200
    assert sizes(answer) == [(640, 480)]


@pytest.mark.parametrize("prefix", ["", "data:image/png;base64,"])
async def test_inpaint_with_base64_files(api: Api, prefix: str) -> None:
    answer = await api.post(
        INPAINT,
        {
            "prompt": "Add a window",
            "image_file": prefix + b64(png((640, 480))),
            "mask_file": prefix + b64(alpha_mask((320, 240), (50, 50, 150, 150))),
            "include_data": True,
        },
    )
    assert answer.status == 200
    (image,) = answer.body["data"]["images"]
    result = decode(base64.b64decode(image["data"]))
    assert result.size == (640, 480) and len(base64.b64decode(image["data"])) == image["size_bytes"]


@pytest.mark.parametrize(
    ("fraction", "size"), [(0.05, (660, 440)), (0.2, (840, 560)), (0.4, (1080, 720))]
)
async def test_border_expansion(api: Api, fraction: float, size: tuple[int, int]) -> None:
    answer = await api.post(
        INPAINT,
        {
            "prompt": "Extend the landscape naturally",
            "image_file": b64(png((600, 400))),
            "inpaint_border_only": True,
            "border_percentage": fraction,
            "include_data": True,
        },
    )
    assert answer.status == 200, answer.body
    assert sizes(answer) == [size]
    (image,) = answer.body["data"]["images"]
    assert decode(base64.b64decode(image["data"])).size == size


async def test_eight_concurrent_requests_with_mixed_settings(
    api: Api, image_host: ImageHost
) -> None:
    photo = image_host.put("photo.png", png((600, 400)))
    requests: list[tuple[str, dict[str, Any]]] = [
        (GENERATE, {"prompt": "a red fox", "aspect_ratio": "1:1", "quality": "low"}),
        (GENERATE, {"prompt": "a castle", "aspect_ratio": "16:9", "number_of_images": 2}),
        (GENERATE, {"prompt": "a robot", "aspect_ratio": "2:3", "quality": "medium"}),
        (GENERATE, {"prompt": "a sticker", "background": "transparent", "output_format": "webp"}),
        (GENERATE, {"prompt": "a bowl", "output_format": "jpeg", "number_of_images": 3}),
        (EDIT, {"prompt": "as a watercolor", "image_url": photo, "number_of_images": 2}),
        (EDIT, {"prompt": "at night", "image_file": b64(png((512, 512))), "aspect_ratio": "9:16"}),
        (
            INPAINT,
            {
                "prompt": "more sky",
                "image_url": photo,
                "inpaint_border_only": True,
                "border_percentage": 0.1,
            },
        ),
    ]
    answers = await asyncio.gather(*(api.post(route, body) for route, body in requests))
    for (_, body), answer in zip(requests, answers, strict=True):
        assert answer.status == 200 and answer.body["success"] is True, answer.body
        assert len(answer.body["data"]["images"]) == body.get("number_of_images", 1)
