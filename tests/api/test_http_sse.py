"""Server-Sent Events on the JSON surface: each image as it is ready, errors, keepalives."""

from __future__ import annotations

from typing import Any

import pytest
from visionstudio.server.api.http import sse

from tests.fake_openai import FakeOpenAI
from tests.support.json_api import EDIT, GENERATE, Api, sse_events
from tests.support.upstream_failures import MODERATION


async def test_events_stream_each_image_as_it_is_ready(api: Api, upstream: FakeOpenAI) -> None:
    upstream.config.next_latencies = [0.05, 2, 2]
    kinds: list[str] = []
    payloads: list[dict[str, Any]] = []
    in_flight_at_first_image = None
    async with api.stream(GENERATE, {"prompt": "three boats", "number_of_images": 3}) as resp:
        assert resp.status == 200 and resp.content_type == "text/event-stream"
        async for kind, payload in sse_events(resp):
            if kind == "image" and in_flight_at_first_image is None:
                in_flight_at_first_image = upstream.in_flight
            kinds.append(kind)
            payloads.append(payload)
    assert kinds == ["accepted", "image", "image", "image", "summary"]
    assert in_flight_at_first_image == 2  # the first image came while the others were rendering
    accepted, summary = payloads[0], payloads[-1]
    assert accepted["number_of_images"] == 3 and accepted["model"] == "gpt-image-2.5-flare"
    assert summary["job_id"] == accepted["job_id"] and summary["images_delivered"] == 3
    assert summary["usage"]["output_tokens"] > 0 and summary["elapsed_ms"] >= 2000
    assert sorted(p["index"] for p in payloads[1:4]) == [0, 1, 2]
    assert payloads[1]["index"] == 0  # the fast one
    assert all((p["width"], p["height"]) == (1024, 1024) for p in payloads[1:4])


async def test_a_failure_after_the_stream_started_is_an_error_event(
    api: Api, upstream: FakeOpenAI
) -> None:
    upstream.config.fail_next.append(MODERATION)
    async with api.stream(GENERATE, {"prompt": "a ship"}) as resp:
        assert resp.status == 200
        events = [event async for event in sse_events(resp)]
    assert [kind for kind, _ in events] == ["accepted", "error"]
    error = events[1][1]
    assert error["success"] is False and error["error"]["reason"] == "CONTENT_POLICY_VIOLATION"
    assert error["data"]["job_id"] == events[0][1]["job_id"]


async def test_errors_before_the_job_starts_are_plain_json(api: Api, upstream: FakeOpenAI) -> None:
    async with api.stream(GENERATE, {"prompt": "a", "number_of_images": 0.5}) as resp:
        assert resp.status == 400 and resp.content_type == "application/json"
        body = await resp.json()
    assert body["error"]["details"]["field_violations"][0]["field"] == "number_of_images"
    async with api.stream(EDIT, {"prompt": "a", "image_url": "http://10.1.2.3/a.png"}) as resp:
        assert resp.status == 400 and (await resp.json())["error"]["reason"] == "URL_NOT_ALLOWED"
    assert upstream.requests == []


async def test_a_waiting_stream_gets_keepalive_comments(
    api: Api, upstream: FakeOpenAI, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sse, "KEEPALIVE_S", 0.05)
    upstream.config.latency_s = 0.5
    async with api.stream(GENERATE, {"prompt": "a"}) as resp:
        text = (await resp.read()).decode()
    assert ": keepalive\n\n" in text
    assert text.index("event: accepted") < text.index(": keepalive") < text.index("event: image")
