"""Generations: what comes back for what is asked, and the requests the real API refuses."""

from __future__ import annotations

import base64
from typing import Any

import openai
import pytest
from openai import AsyncOpenAI

from tests.fake_openai import FakeOpenAI, FakeOpenAIConfig
from tests.fake_openai_tests.sdk import MODEL, decode_b64, images_of, make_client, refusal


async def test_generate_flexible_size_returns_exact_size(
    client: AsyncOpenAI, fake: FakeOpenAI
) -> None:
    result = await client.images.generate(model=MODEL, prompt="a red fox", size="1536x864")
    [img] = images_of(result)
    assert (img.format, img.size, img.mode) == ("PNG", (1536, 864), "RGB")
    assert (result.size, result.quality, result.background) == ("1536x864", "medium", "opaque")
    assert result.output_format == "png"
    assert result.usage is not None and result.usage.input_tokens_details.image_tokens == 0
    assert result.usage.total_tokens == result.usage.input_tokens + result.usage.output_tokens
    [recorded] = fake.requests
    assert recorded.endpoint == "generations"
    assert recorded.fields["size"] == "1536x864"
    assert recorded.headers["Authorization"] == "Bearer sk-test"


async def test_generate_auto_size_is_square(client: AsyncOpenAI) -> None:
    result = await client.images.generate(model="gpt-image-1.5", prompt="a fox")
    assert [img.size for img in images_of(result)] == [(1024, 1024)]


async def test_generate_n3_returns_three_different_images(client: AsyncOpenAI) -> None:
    result = await client.images.generate(model=MODEL, prompt="three foxes", n=3)
    imgs = images_of(result)
    assert len(imgs) == 3
    pixels = {img.tobytes() for img in imgs}
    assert len(pixels) == 3


async def test_generate_is_deterministic(client: AsyncOpenAI) -> None:
    one = await client.images.generate(model=MODEL, prompt="same", quality="low")
    two = await client.images.generate(model=MODEL, prompt="same", quality="low")
    assert images_of(one)[0].tobytes() == images_of(two)[0].tobytes()


async def test_transparent_png_has_real_alpha(client: AsyncOpenAI) -> None:
    result = await client.images.generate(
        model=MODEL, prompt="a sticker", background="transparent", quality="high"
    )
    [img] = images_of(result)
    assert img.mode == "RGBA"
    assert img.getchannel("A").getextrema() == (0, 255)
    assert result.background == "transparent" and result.quality == "high"


@pytest.mark.parametrize("fmt", ["jpeg", "webp"])
async def test_output_formats(client: AsyncOpenAI, fmt: Any) -> None:
    result = await client.images.generate(
        model=MODEL, prompt="x", output_format=fmt, output_compression=50, size="1024x640"
    )
    [img] = images_of(result)
    assert (img.format, img.size) == (fmt.upper(), (1024, 640))


@pytest.mark.parametrize("size", ["3840x2160", "2400x800", "1024x640"])
async def test_flexible_model_accepts_edge_sizes(client: AsyncOpenAI, size: Any) -> None:
    result = await client.images.generate(model=MODEL, prompt="x", size=size, quality="low")
    assert result.size == size


async def test_xhigh_quality_on_25_models(client: AsyncOpenAI) -> None:
    result = await client.images.generate(model="gpt-image-2.5-flare", prompt="x", quality="xhigh")
    assert result.quality == "xhigh"


async def test_photographic_generations_are_as_large_as_real_ones() -> None:
    async with FakeOpenAI(FakeOpenAIConfig(photographic=True)) as fake, make_client(fake) as sdk:
        result = await sdk.images.generate(model=MODEL, prompt="grain", size="1024x1024")
    assert result.data is not None and result.data[0].b64_json is not None
    data = base64.b64decode(result.data[0].b64_json)
    assert 1_000_000 < len(data) < 3_000_000
    assert decode_b64(result.data[0].b64_json).size == (1024, 1024)


@pytest.mark.parametrize(
    "size",
    ["1000x1000", "512x512", "3072x768", "4096x2304", "3840x2400", "big", "1024x1024x3"],
)
async def test_flexible_model_refuses_bad_sizes(client: AsyncOpenAI, size: str) -> None:
    body = await refusal(client.images.generate(model=MODEL, prompt="x", size=size))
    assert body["param"] == "size"


@pytest.mark.parametrize(
    ("kwargs", "param", "code"),
    [
        ({"model": openai.NOT_GIVEN}, "model", "missing_required_parameter"),
        ({"model": "gpt-image-9"}, "model", "model_not_found"),
        ({"model": "gpt-image-1.5", "size": "1536x864"}, "size", "invalid_value"),
        ({"prompt": ""}, "prompt", "string_below_min_length"),
        ({"prompt": "x" * 32001}, "prompt", "string_above_max_length"),
        ({"n": 11}, "n", "integer_above_max_value"),
        ({"n": 0}, "n", "integer_below_min_value"),
        ({"quality": "xhigh"}, "quality", "invalid_value"),
        ({"quality": "standard"}, "quality", "invalid_value"),
        ({"output_format": "jpeg", "background": "transparent"}, "background", "invalid_value"),
        ({"output_compression": 80}, "output_compression", "invalid_value"),
        ({"response_format": "b64_json"}, "response_format", "unsupported_parameter"),
        ({"style": "vivid"}, "style", "unsupported_parameter"),
        ({"moderation": "none"}, "moderation", "invalid_value"),
        ({"partial_images": 2}, "partial_images", "invalid_value"),
        ({"extra_body": {"seed": 1}}, "seed", "unknown_parameter"),
        ({"extra_body": {"n": "2"}}, "n", "invalid_type"),
    ],
)
async def test_generate_refuses_what_the_api_refuses(
    client: AsyncOpenAI, kwargs: dict[str, Any], param: str, code: str
) -> None:
    call: dict[str, Any] = {"model": MODEL, "prompt": "x", **kwargs}
    body = await refusal(client.images.generate(**call))
    assert (body["param"], body["code"], body["type"]) == (param, code, "invalid_request_error")


@pytest.mark.parametrize(("model", "why"), [("gpt-image-1", "shut down"), ("dall-e-3", "retired")])
async def test_retired_model_refused(client: AsyncOpenAI, model: str, why: str) -> None:
    body = await refusal(client.images.generate(model=model, prompt="x"))
    assert (body["param"], body["code"]) == ("model", "model_not_found")
    assert why in body["message"]
