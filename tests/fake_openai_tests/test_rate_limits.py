"""The optional rate limits: token buckets, 429 answers, x-ratelimit-* headers, the counters."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import openai
import pytest
from openai import AsyncOpenAI
from openai.types import ImageEditCompletedEvent

from tests.fake_openai import STATS_PATH, FakeOpenAI, FakeOpenAIConfig
from tests.fake_openai.ratelimit import duration
from tests.fake_openai_tests.sdk import MODEL, make_client, photo, upload


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


async def use_up_images(sdk: AsyncOpenAI) -> None:
    """Two images take the limited account's whole minute; the next call is refused."""
    await sdk.images.generate(model=MODEL, prompt="x", n=2)
    with pytest.raises(openai.RateLimitError):
        await sdk.images.generate(model=MODEL, prompt="x")


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
        await use_up_images(sdk)
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
        stream = await sdk.images.with_raw_response.edit(
            model=MODEL, prompt="x", image=upload(photo()), stream=True, partial_images=1
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
        await use_up_images(sdk)
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
    assert duration(seconds) == text


async def test_a_window_in_seconds_refills_as_fast_as_it_says() -> None:
    clock = Clock()
    config = FakeOpenAIConfig(rate_limit_images_per_minute=8, rate_limit_window_s=2.0)
    async with FakeOpenAI(config, clock=clock) as fake, make_client(fake) as sdk:
        raw = await sdk.images.with_raw_response.generate(model=MODEL, prompt="x", n=8)
        assert limits_of(raw.headers)["x-ratelimit-reset-images"] == "2s"
        with pytest.raises(openai.RateLimitError) as caught:
            await sdk.images.generate(model=MODEL, prompt="x")
        assert caught.value.response.headers["retry-after-ms"] == "250"
        clock.now += 0.25  # 8 per 2 s: one image back every 250 ms
        await sdk.images.generate(model=MODEL, prompt="x")
        assert fake.rate_limited == 1
