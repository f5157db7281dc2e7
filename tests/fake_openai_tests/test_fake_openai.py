"""The fake Images API, driven by the real openai SDK over loopback HTTP (never the internet)."""

from __future__ import annotations

import asyncio
import base64
import io
import json
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import urlsplit

import aiohttp
import openai
import pytest
from openai import AsyncOpenAI
from openai.types import (
    ImageEditCompletedEvent,
    ImageEditPartialImageEvent,
    ImageGenCompletedEvent,
    ImageGenPartialImageEvent,
    ImagesResponse,
)
from PIL import Image, ImageChops, ImageDraw

from tests.fake_openai import (
    STATS_PATH,
    Failure,
    FakeOpenAI,
    FakeOpenAIConfig,
)
from tests.fake_openai.ratelimit import duration as _duration
from tests.support.harness import eventually

MODEL = "gpt-image-2"


@pytest.fixture
async def fake() -> AsyncIterator[FakeOpenAI]:
    async with FakeOpenAI() as server:
        yield server


def make_client(fake: FakeOpenAI, api_key: str = "sk-test") -> AsyncOpenAI:
    # trust_env=False: a proxy configured in the environment must not see loopback traffic.
    return AsyncOpenAI(
        api_key=api_key,
        base_url=fake.base_url,
        max_retries=0,
        http_client=openai.DefaultAsyncHttpxClient(trust_env=False),
    )


@pytest.fixture
async def client(fake: FakeOpenAI) -> AsyncIterator[AsyncOpenAI]:
    async with make_client(fake) as sdk:
        yield sdk


def decode(b64: str | None) -> Image.Image:
    assert b64 is not None
    img = Image.open(io.BytesIO(base64.b64decode(b64)))
    img.load()
    return img


def images_of(result: ImagesResponse) -> list[Image.Image]:
    assert result.data is not None
    return [decode(item.b64_json) for item in result.data]


def png(img: Image.Image) -> bytes:
    buf = io.BytesIO()
    img.save(buf, "PNG")
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


# --- generations ---------------------------------------------------------------------------


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


async def test_fixed_size_model_refuses_flexible_size(client: AsyncOpenAI) -> None:
    body = await refusal(client.images.generate(model="gpt-image-1.5", prompt="x", size="1536x864"))
    assert (body["param"], body["code"], body["type"]) == (
        "size",
        "invalid_value",
        "invalid_request_error",
    )


@pytest.mark.parametrize(
    "size",
    ["1000x1000", "512x512", "3072x768", "4096x2304", "3840x2400", "big", "1024x1024x3"],
)
async def test_flexible_model_refuses_bad_sizes(client: AsyncOpenAI, size: str) -> None:
    body = await refusal(client.images.generate(model=MODEL, prompt="x", size=size))
    assert body["param"] == "size"


async def test_flexible_model_accepts_edge_sizes(client: AsyncOpenAI) -> None:
    for size in ("3840x2160", "2400x800", "1024x640"):
        result = await client.images.generate(model=MODEL, prompt="x", size=size, quality="low")
        assert result.size == size


async def test_shut_down_model_refused(client: AsyncOpenAI) -> None:
    body = await refusal(client.images.generate(model="gpt-image-1", prompt="x"))
    assert body["param"] == "model" and "shut down" in body["message"]
    body = await refusal(client.images.generate(model="dall-e-3", prompt="x"))
    assert "retired" in body["message"]


async def test_unknown_model_refused(client: AsyncOpenAI) -> None:
    body = await refusal(client.images.generate(model="gpt-image-9", prompt="x"))
    assert (body["param"], body["code"]) == ("model", "model_not_found")


async def test_missing_model_refused(client: AsyncOpenAI) -> None:
    body = await refusal(client.images.generate(prompt="x"))
    assert (body["param"], body["code"]) == ("model", "missing_required_parameter")


@pytest.mark.parametrize(
    ("kwargs", "param", "code"),
    [
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
    assert (body["param"], body["code"]) == (param, code)


async def test_xhigh_quality_on_25_models(client: AsyncOpenAI) -> None:
    result = await client.images.generate(model="gpt-image-2.5-flare", prompt="x", quality="xhigh")
    assert result.quality == "xhigh"


async def test_wrong_key_is_authentication_error(fake: FakeOpenAI) -> None:
    async with make_client(fake, api_key="sk-wrong-key-123") as sdk:
        with pytest.raises(openai.AuthenticationError) as info:
            await sdk.images.generate(model=MODEL, prompt="x")
    assert isinstance(info.value.body, dict)
    assert info.value.body["code"] == "invalid_api_key"
    assert len(fake.requests) == 1  # refused requests are recorded too


async def test_unknown_route_is_404_with_openai_body(fake: FakeOpenAI) -> None:
    async with (
        aiohttp.ClientSession() as http,
        http.get(f"{fake.base_url}/models", headers={"Authorization": "Bearer sk-test"}) as resp,
    ):
        assert resp.status == 404
        body = await resp.json()
    assert set(body["error"]) == {"message", "type", "param", "code"}
    assert fake.requests[0].endpoint == "/v1/models"


# --- edits ---------------------------------------------------------------------------------


async def test_edit_recolors_every_pixel(client: AsyncOpenAI, fake: FakeOpenAI) -> None:
    source = photo()
    result = await client.images.edit(
        model=MODEL, prompt="make it night", image=("image.png", png(source), "image/png")
    )
    [img] = images_of(result)
    assert img.size == source.size and result.size == "1024x1024"
    assert changed_everywhere(img, source)
    assert result.usage is not None and result.usage.input_tokens_details.image_tokens == 65
    [recorded] = fake.requests
    assert recorded.endpoint == "edits"
    assert recorded.fields["prompt"] == "make it night" and recorded.fields["model"] == MODEL
    assert recorded.files["image"] == [("image.png", "image/png", png(source))]


async def test_edit_with_mask_and_several_images(client: AsyncOpenAI, fake: FakeOpenAI) -> None:
    result = await client.images.edit(
        model=MODEL,
        prompt="x",
        n=2,
        image=[
            ("a.png", png(photo()), "image/png"),
            ("b.png", png(photo((512, 512))), "image/png"),
        ],
        mask=("mask.png", png(hole_mask()), "image/png"),
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
        model=MODEL,
        prompt="x",
        image=("image.png", png(source), "image/png"),
        mask=("mask.png", png(hole_mask()), "image/png"),
    )
    [img] = images_of(result)
    diff = ImageChops.difference(img.convert("RGB"), source)
    assert diff.crop((256, 256, 1024, 1024)).getbbox() is None
    hole = (0, 0, 256, 256)
    assert changed_everywhere(img.crop(hole), source.crop(hole))


async def test_edit_auto_size_follows_input_ratio(client: AsyncOpenAI) -> None:
    source = png(photo((600, 900)))
    result = await client.images.edit(
        model="gpt-image-1.5", prompt="x", image=("p.png", source, "image/png")
    )
    assert [img.size for img in images_of(result)] == [(1024, 1536)]


async def test_edit_mask_of_wrong_size_refused(client: AsyncOpenAI) -> None:
    body = await refusal(
        client.images.edit(
            model=MODEL,
            prompt="x",
            image=("image.png", png(photo()), "image/png"),
            mask=("mask.png", png(hole_mask((512, 512))), "image/png"),
        )
    )
    assert (body["param"], body["code"]) == ("mask", "invalid_mask")
    assert "512x512" in body["message"] and "1024x1024" in body["message"]


async def test_edit_mask_without_alpha_refused(client: AsyncOpenAI) -> None:
    body = await refusal(
        client.images.edit(
            model=MODEL,
            prompt="x",
            image=("image.png", png(photo()), "image/png"),
            mask=("mask.png", png(Image.new("L", (1024, 1024), 255)), "image/png"),
        )
    )
    assert (body["param"], body["code"]) == ("mask", "invalid_mask")
    assert "alpha" in body["message"]


async def test_edit_jpeg_mask_refused(client: AsyncOpenAI) -> None:
    buf = io.BytesIO()
    Image.new("RGB", (1024, 1024)).save(buf, "JPEG")
    body = await refusal(
        client.images.edit(
            model=MODEL,
            prompt="x",
            image=("image.png", png(photo()), "image/png"),
            mask=("mask.jpg", buf.getvalue(), "image/jpeg"),
        )
    )
    assert (body["param"], body["code"]) == ("mask", "invalid_mask")


async def test_octet_stream_upload_refused(client: AsyncOpenAI, fake: FakeOpenAI) -> None:
    # Bare bytes: the SDK sends filename "upload" and application/octet-stream.
    body = await refusal(client.images.edit(model=MODEL, prompt="x", image=png(photo())))
    assert (body["param"], body["code"]) == ("image", "invalid_image_file")
    assert "octet-stream" in body["message"]
    assert fake.requests[0].files["image"][0][:2] == ("upload", "application/octet-stream")


async def test_edit_refuses_non_image_and_bad_params(client: AsyncOpenAI) -> None:
    body = await refusal(
        client.images.edit(model=MODEL, prompt="x", image=("a.png", b"not a png", "image/png"))
    )
    assert (body["param"], body["code"]) == ("image", "invalid_image_file")
    image = ("image.png", png(photo()), "image/png")
    body = await refusal(
        client.images.edit(model=MODEL, prompt="x", image=image, input_fidelity="high")
    )
    assert body["param"] == "input_fidelity"
    body = await refusal(
        client.images.edit(model=MODEL, prompt="x", image=image, extra_body={"moderation": "low"})
    )
    assert (body["param"], body["code"]) == ("moderation", "unknown_parameter")


# --- streaming -----------------------------------------------------------------------------


async def test_stream_generate_yields_partials_then_completed(client: AsyncOpenAI) -> None:
    stream = await client.images.generate(
        model=MODEL, prompt="a fox", size="1536x864", stream=True, partial_images=2
    )
    events = [event async for event in stream]
    assert [type(e) for e in events] == [
        ImageGenPartialImageEvent,
        ImageGenPartialImageEvent,
        ImageGenCompletedEvent,
    ]
    partials = [e for e in events if isinstance(e, ImageGenPartialImageEvent)]
    assert [e.partial_image_index for e in partials] == [0, 1]
    completed = events[-1]
    assert isinstance(completed, ImageGenCompletedEvent)
    assert completed.size == "1536x864" and completed.usage.output_tokens > 0
    assert decode(completed.b64_json).size == (1536, 864)
    assert all(decode(e.b64_json).size == (1536, 864) for e in partials)


async def test_stream_edit_yields_edit_events(client: AsyncOpenAI) -> None:
    stream = await client.images.edit(
        model=MODEL,
        prompt="x",
        image=("image.png", png(photo()), "image/png"),
        stream=True,
        partial_images=1,
    )
    events = [event async for event in stream]
    assert [type(e) for e in events] == [ImageEditPartialImageEvent, ImageEditCompletedEvent]


async def test_stream_with_n2_refused(client: AsyncOpenAI) -> None:
    body = await refusal(client.images.generate(model=MODEL, prompt="x", stream=True, n=2))
    assert body["param"] == "n"


# --- fault injection, latency, concurrency -------------------------------------------------


async def test_fail_next_429_is_rate_limit_error(client: AsyncOpenAI, fake: FakeOpenAI) -> None:
    error = {"message": "Rate limit reached", "type": "requests", "param": None, "code": None}
    fake.config.fail_next.append(Failure(429, {"error": error}))
    with pytest.raises(openai.RateLimitError) as info:
        await client.images.generate(model=MODEL, prompt="x")
    assert info.value.body == error
    await client.images.generate(model=MODEL, prompt="x", quality="low")  # queue drained
    assert len(fake.requests) == 2


async def test_latency_overlaps_concurrent_requests(client: AsyncOpenAI, fake: FakeOpenAI) -> None:
    fake.config.latency_s = 0.3
    started = time.monotonic()
    results = await asyncio.gather(
        *(client.images.generate(model=MODEL, prompt=f"p{i}", quality="low") for i in range(4))
    )
    elapsed = time.monotonic() - started
    assert len(results) == 4
    assert 0.3 <= elapsed < 1.0
    assert fake.max_in_flight == 4 and fake.in_flight == 0


async def test_drop_next_closes_image_calls_without_an_answer(
    client: AsyncOpenAI, fake: FakeOpenAI
) -> None:
    fake.config.drop_next = 2
    async with aiohttp.ClientSession() as http, http.get(f"{fake.base_url}/models") as resp:
        assert resp.status == 401  # other routes are answered and take no drop
    # Not one byte of HTTP comes back before the connection closes.
    url = urlsplit(fake.base_url)
    assert url.hostname is not None and url.port is not None
    reader, writer = await asyncio.open_connection(url.hostname, url.port)
    body = b'{"model": "gpt-image-2", "prompt": "x"}'
    writer.write(
        b"POST /v1/images/generations HTTP/1.1\r\nHost: fake\r\nContent-Type: application/json"
        b"\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body)
    )
    assert await asyncio.wait_for(reader.read(), 5) == b""
    writer.close()
    await writer.wait_closed()
    with pytest.raises(openai.APIConnectionError):
        await client.images.generate(model=MODEL, prompt="x")
    await client.images.generate(model=MODEL, prompt="x")  # the drops are used up
    assert fake.config.drop_next == 0
    assert [r.endpoint for r in fake.requests] == ["/v1/models", *["generations"] * 3]
    assert fake.disconnects == 0  # the fake hung up, not the client


async def test_hang_next_answers_nothing_until_the_client_hangs_up(
    client: AsyncOpenAI, fake: FakeOpenAI
) -> None:
    fake.config.hang_next = 1
    started = time.monotonic()
    with pytest.raises(openai.APITimeoutError):
        await client.images.generate(model=MODEL, prompt="x", timeout=0.3)
    assert time.monotonic() - started < 2
    assert await eventually(lambda: fake.disconnects == 1 and fake.in_flight == 0)
    await client.images.generate(model=MODEL, prompt="x")
    assert fake.config.hang_next == 0


# --- rate limits ---------------------------------------------------------------------------


class Clock:
    """A monotonic clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
async def limited() -> AsyncIterator[tuple[FakeOpenAI, Clock]]:
    clock = Clock()
    config = FakeOpenAIConfig(rate_limit_requests_per_minute=10, rate_limit_images_per_minute=2)
    async with FakeOpenAI(config, clock=clock) as server:
        yield server, clock


def limits_of(headers: Any) -> dict[str, str]:
    return {k.lower(): v for k, v in headers.items() if k.lower().startswith("x-ratelimit-")}


async def test_image_limit_answers_429_like_openai(limited: tuple[FakeOpenAI, Clock]) -> None:
    fake, clock = limited
    async with make_client(fake) as sdk:
        raw = await sdk.images.with_raw_response.generate(model=MODEL, prompt="x")
        assert limits_of(raw.headers) == {
            "x-ratelimit-limit-requests": "10",
            "x-ratelimit-remaining-requests": "9",
            "x-ratelimit-reset-requests": "6s",
            "x-ratelimit-limit-images": "2",
            "x-ratelimit-remaining-images": "1",
            "x-ratelimit-reset-images": "30s",
        }
        await sdk.images.generate(model=MODEL, prompt="x")
        clock.now += 3  # a tenth of an image comes back: not enough
        with pytest.raises(openai.RateLimitError) as info:
            await sdk.images.generate(model=MODEL, prompt="x")
    error = info.value
    assert isinstance(error.body, dict)
    assert (error.body["type"], error.body["code"]) == ("images", "rate_limit_exceeded")
    assert "images per min (IPM): Limit 2, Used 2, Requested 1" in error.body["message"]
    headers = error.response.headers
    assert (headers["retry-after"], headers["retry-after-ms"]) == ("27", "27000")
    assert headers["x-ratelimit-remaining-images"] == "0"
    assert headers["x-ratelimit-reset-images"] == "57s"
    # The refused call still counted as a request, as it does at OpenAI.
    assert headers["x-ratelimit-remaining-requests"] == "7"
    assert (fake.served_images, fake.rate_limited) == (2, 1)


async def test_bucket_refills_continuously(limited: tuple[FakeOpenAI, Clock]) -> None:
    fake, clock = limited
    async with make_client(fake) as sdk:
        await sdk.images.generate(model=MODEL, prompt="x", n=2)
        with pytest.raises(openai.RateLimitError):
            await sdk.images.generate(model=MODEL, prompt="x")
        clock.now += 30  # one image's worth
        await sdk.images.generate(model=MODEL, prompt="x")
        with pytest.raises(openai.RateLimitError) as info:
            await sdk.images.generate(model=MODEL, prompt="x", n=2)
        assert info.value.response.headers["retry-after"] == "60"
        clock.now += 600  # never more than a minute's worth
        raw = await sdk.images.with_raw_response.generate(model=MODEL, prompt="x", n=2)
    assert raw.headers["x-ratelimit-remaining-images"] == "0"
    assert raw.headers["x-ratelimit-remaining-requests"] == "9"
    assert (fake.served_images, fake.rate_limited) == (5, 2)


async def test_request_limit_counts_calls_not_images() -> None:
    config = FakeOpenAIConfig(rate_limit_requests_per_minute=1)
    async with FakeOpenAI(config) as fake, make_client(fake) as sdk:
        raw = await sdk.images.with_raw_response.generate(model=MODEL, prompt="x", n=3)
        assert limits_of(raw.headers) == {
            "x-ratelimit-limit-requests": "1",
            "x-ratelimit-remaining-requests": "0",
            "x-ratelimit-reset-requests": raw.headers["x-ratelimit-reset-requests"],
        }
        with pytest.raises(openai.RateLimitError) as info:
            await sdk.images.generate(model=MODEL, prompt="x")
    assert isinstance(info.value.body, dict)
    assert (info.value.body["type"], info.value.body["code"]) == ("requests", "rate_limit_exceeded")
    assert "requests per min (RPM)" in info.value.body["message"]
    assert int(info.value.response.headers["retry-after"]) in (59, 60)
    assert (fake.served_images, fake.rate_limited) == (3, 1)


async def test_every_image_answer_carries_the_limits(limited: tuple[FakeOpenAI, Clock]) -> None:
    fake, _ = limited
    async with make_client(fake) as sdk:
        with pytest.raises(openai.BadRequestError) as info:
            await sdk.images.generate(model=MODEL, prompt="x", size="10x10")
        assert info.value.response.headers["x-ratelimit-remaining-images"] == "2"
        image = ("image.png", png(photo()), "image/png")
        stream = await sdk.images.with_raw_response.edit(
            model=MODEL, prompt="x", image=image, stream=True, partial_images=1
        )
        assert stream.headers["x-ratelimit-remaining-images"] == "1"
        events = [event async for event in stream.parse()]
    assert type(events[-1]) is ImageEditCompletedEvent
    assert (fake.served_images, fake.rate_limited) == (1, 0)


async def test_no_limit_headers_when_the_limits_are_off(client: AsyncOpenAI) -> None:
    raw = await client.images.with_raw_response.generate(model=MODEL, prompt="x")
    assert limits_of(raw.headers) == {}


async def test_stats_route_counts(limited: tuple[FakeOpenAI, Clock]) -> None:
    fake, _ = limited
    async with make_client(fake) as sdk:
        await sdk.images.generate(model=MODEL, prompt="x", n=2)
        with pytest.raises(openai.RateLimitError):
            await sdk.images.generate(model=MODEL, prompt="x")
    url = fake.base_url.removesuffix("/v1") + STATS_PATH
    async with aiohttp.ClientSession() as http, http.get(url) as resp:
        stats = await resp.json()
    assert stats == {
        "served_images": 2,
        "rate_limited": 1,
        "in_flight": 0,
        "max_in_flight": 1,
        "disconnects": 0,
    }
    assert stats == fake.stats()


@pytest.mark.parametrize(
    ("seconds", "text"),
    [(0.02, "20ms"), (1.2, "1.2s"), (6.0, "6s"), (60.0, "1m0s"), (90.5, "1m30.5s")],
)
def test_reset_durations_are_written_like_openai(seconds: float, text: str) -> None:
    assert _duration(seconds) == text


async def test_photographic_generations_are_as_large_as_real_ones() -> None:
    async with FakeOpenAI(FakeOpenAIConfig(photographic=True)) as fake, make_client(fake) as sdk:
        result = await sdk.images.generate(model=MODEL, prompt="grain", size="1024x1024")
    assert result.data is not None and result.data[0].b64_json is not None
    data = base64.b64decode(result.data[0].b64_json)
    assert 1_000_000 < len(data) < 3_000_000
    assert decode(result.data[0].b64_json).size == (1024, 1024)


# --- command line --------------------------------------------------------------------------


def test_command_line_prints_base_url() -> None:
    cmd = [sys.executable, "-m", "tests.fake_openai", "--port", "0"]
    with subprocess.Popen(
        cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True
    ) as proc:
        try:
            assert proc.stdout is not None
            line = proc.stdout.readline().strip()
            assert line.startswith("http://127.0.0.1:") and line.endswith("/v1")
            assert not line.endswith(":0/v1")
        finally:
            proc.terminate()
        assert proc.wait(timeout=10) == 0  # SIGTERM stops it cleanly


def test_command_line_rate_limit() -> None:
    cmd = [sys.executable, "-m", "tests.fake_openai", "--port", "0"]
    cmd += ["--api-key", "sk-cli", "--images-per-minute", "1", "--photographic"]
    with subprocess.Popen(
        cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True
    ) as proc:
        try:
            assert proc.stdout is not None
            base_url = proc.stdout.readline().strip()
            request = urllib.request.Request(
                f"{base_url}/images/generations",
                data=json.dumps({"model": MODEL, "prompt": "x"}).encode(),
                headers={"Authorization": "Bearer sk-cli", "Content-Type": "application/json"},
            )
            with urllib.request.urlopen(request, timeout=30) as answer:
                assert answer.headers["x-ratelimit-limit-images"] == "1"
                assert len(base64.b64decode(json.load(answer)["data"][0]["b64_json"])) > 10**6
            with pytest.raises(urllib.error.HTTPError) as info:
                urllib.request.urlopen(request, timeout=30)
            assert info.value.code == 429
            stats_url = base_url.removesuffix("/v1") + STATS_PATH
            with urllib.request.urlopen(stats_url, timeout=30) as answer:
                stats = json.load(answer)
            assert (stats["served_images"], stats["rate_limited"]) == (1, 1)
        finally:
            proc.terminate()
        assert proc.wait(timeout=10) == 0
