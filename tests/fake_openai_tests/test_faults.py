"""Errors and injected faults: bad keys, unknown routes, canned failures, latency, drops, hangs."""

from __future__ import annotations

import asyncio
import time
from urllib.parse import urlsplit

import aiohttp
import openai
import pytest
from openai import AsyncOpenAI

from tests.fake_openai import Failure, FakeOpenAI
from tests.fake_openai_tests.sdk import MODEL, make_client
from tests.support.harness import eventually


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
    assert elapsed >= 0.3
    # All four were in flight together: they overlapped (no wall-clock bound, which flakes
    # on a loaded machine).
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
