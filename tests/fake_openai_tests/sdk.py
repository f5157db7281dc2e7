"""Helpers for driving the fake with the real openai SDK, and the images the tests send."""

from __future__ import annotations

import base64
import io
from typing import Any

import openai
import pytest
from openai import AsyncOpenAI
from openai.types import ImagesResponse
from PIL import Image, ImageChops, ImageDraw

from tests.fake_openai import FakeOpenAI
from tests.support.harness import decode

MODEL = "gpt-image-2"


def make_client(fake: FakeOpenAI, api_key: str = "sk-test") -> AsyncOpenAI:
    # trust_env=False: a proxy configured in the environment must not see loopback traffic.
    return AsyncOpenAI(
        api_key=api_key,
        base_url=fake.base_url,
        max_retries=0,
        http_client=openai.DefaultAsyncHttpxClient(trust_env=False),
    )


def decode_b64(b64: str | None) -> Image.Image:
    assert b64 is not None
    return decode(base64.b64decode(b64))


def images_of(result: ImagesResponse) -> list[Image.Image]:
    assert result.data is not None
    return [decode_b64(item.b64_json) for item in result.data]


def encoded(img: Image.Image, fmt: str = "PNG") -> bytes:
    buf = io.BytesIO()
    img.save(buf, fmt)
    return buf.getvalue()


def photo(size: tuple[int, int] = (1024, 1024)) -> Image.Image:
    """An input with varied pixels (including mid-grey, the worst case for an inversion)."""
    img = Image.linear_gradient("L").resize(size).convert("RGB")
    ImageDraw.Draw(img).rectangle((100, 100, 400, 300), fill=(127, 128, 12))
    return img


def hole_mask(size: tuple[int, int] = (1024, 1024)) -> Image.Image:
    """Opaque everywhere except a transparent square: the area to edit."""
    mask = Image.new("RGBA", size, (0, 0, 0, 255))
    ImageDraw.Draw(mask).rectangle((0, 0, 255, 255), fill=(0, 0, 0, 0))
    return mask


def upload(img: Image.Image, name: str = "image.png") -> tuple[str, bytes, str]:
    """A PNG file as the SDK takes it: (filename, bytes, content type)."""
    return (name, encoded(img), "image/png")


def changed_everywhere(img: Image.Image, source: Image.Image) -> bool:
    """True when every channel of every pixel differs between the two images."""
    diff = ImageChops.difference(img.convert("RGB"), source.convert("RGB"))
    return diff.point(lambda v: 255 if v == 0 else 0).getbbox() is None


async def refusal(call: Any) -> dict[str, Any]:
    """Await a call that must fail with 400; return the OpenAI error object."""
    with pytest.raises(openai.BadRequestError) as info:
        await call
    assert isinstance(info.value.body, dict)
    return info.value.body
