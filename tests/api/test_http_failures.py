"""Failures after a JSON request was accepted: upstream errors, crashes, time limits, hang-ups."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import AsyncIterator

import aiohttp
import pytest
from visionstudio.server.jobs.events import JobEvent
from visionstudio.server.jobs.runner import ImageStudio

from tests.fake_openai import Failure, FakeOpenAI
from tests.support.harness import API_KEY, Harness, eventually
from tests.support.json_api import GENERATE, Api, load
from tests.support.upstream_failures import ATTEMPTS, MODERATION, SERVER_ERROR, openai_error


async def test_upstream_rate_limit_is_429_with_retry_after(api: Api, upstream: FakeOpenAI) -> None:
    # A 429 is waited out while the call's time allows; this one asks for longer than any call
    # may take (VISIONSTUDIO_MAX_CALL_S), so the caller is told at once.
    limited = openai_error("rate_limit_exceeded", "slow down", "requests")
    upstream.config.fail_next.append(Failure(429, limited, {"retry-after-ms": "3600200"}))
    answer = await api.post(GENERATE, {"prompt": "a ship"})
    assert answer.status == 429
    error = answer.body["error"]
    assert (error["code"], error["reason"]) == ("RESOURCE_EXHAUSTED", "PROVIDER_BUDGET")
    # The header has whole seconds, rounded up; the body keeps the finer figure.
    assert answer.headers["Retry-After"] == "3601"
    assert 3599 < error["details"]["retry_after_s"] <= 3600.2
    assert answer.body["data"]["images"] == []  # the job had started: its id is reported


@pytest.mark.parametrize(
    ("failure", "http_status", "reason"),
    [
        (MODERATION, 400, "CONTENT_POLICY_VIOLATION"),
        (
            Failure(401, openai_error("invalid_api_key", "Incorrect key: sk-up****", "auth")),
            502,
            "PROVIDER_CREDENTIALS_REFUSED",
        ),
        (SERVER_ERROR, 503, "UPSTREAM_UNAVAILABLE"),
    ],
)
async def test_upstream_failures_map_to_http_statuses(
    api: Api, upstream: FakeOpenAI, failure: Failure, http_status: int, reason: str
) -> None:
    upstream.config.fail_next.extend([failure] * ATTEMPTS)
    answer = await api.post(GENERATE, {"prompt": "a ship"})
    assert answer.status == http_status and answer.body["error"]["reason"] == reason
    assert "sk-up" not in json.dumps(answer.body)


async def test_partial_failure_still_delivers_what_succeeded(
    api: Api, upstream: FakeOpenAI
) -> None:
    upstream.config.fail_next.append(MODERATION)  # never retried: one image fails for good
    answer = await api.post(GENERATE, {"prompt": "three birds", "number_of_images": 3})
    assert answer.status == 400 and answer.body["success"] is False
    assert "1 of 3 images failed" in answer.body["message"]
    data, metadata = answer.body["data"], answer.body["error"]["details"]["metadata"]
    assert metadata["job_id"] == data["job_id"]
    delivered = [i["index"] for i in data["images"]]
    assert len(delivered) == 2 and delivered == sorted(delivered)
    assert sorted([*delivered, int(metadata["failed_indices"])]) == [0, 1, 2]
    for image in data["images"]:
        assert (await load(image["url"]))[0] == 200


async def test_an_unexpected_error_is_a_generic_500(
    api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def broken(*args: object, **kwargs: object) -> AsyncIterator[JobEvent]:
        raise RuntimeError("secret internals")
        yield  # an async generator, like the real one

    monkeypatch.setattr(ImageStudio, "run", broken)
    for accept in ("application/json", "text/event-stream"):
        async with api.http.post(
            api.base + GENERATE,
            json={"prompt": "a"},
            headers={"X-API-Key": API_KEY, "Accept": accept},
        ) as resp:
            assert resp.status == 500
            text = await resp.text()
        assert json.loads(text)["error"]["code"] == "INTERNAL"
        assert "secret" not in text and "Traceback" not in text


@pytest.mark.parametrize("harness", [{"max_call_s": 1.0}], indirect=True)
async def test_a_call_over_the_time_limit_is_504_and_stops_upstream(
    harness: Harness, api: Api, upstream: FakeOpenAI
) -> None:
    upstream.config.latency_s = 30
    answer = await api.post(GENERATE, {"prompt": "slow"})
    assert answer.status == 504 and answer.body["error"]["code"] == "DEADLINE_EXCEEDED"
    assert await eventually(lambda: upstream.in_flight == 0)


@pytest.mark.parametrize("harness", [{"detach_jobs": False}], indirect=True)
async def test_a_caller_hanging_up_cancels_its_job(
    api: Api, harness: Harness, upstream: FakeOpenAI
) -> None:
    upstream.config.latency_s = 30
    with pytest.raises(TimeoutError):
        async with api.http.post(
            api.base + GENERATE,
            json={"prompt": "never mind", "number_of_images": 2},
            headers={"X-API-Key": API_KEY},
            timeout=aiohttp.ClientTimeout(total=0.5),
        ):
            pass

    def job_status() -> str:
        with sqlite3.connect(harness.data_dir / "jobs.sqlite3") as db:
            (status,) = db.execute("SELECT status FROM jobs").fetchone()
        return str(status)

    assert await eventually(lambda: upstream.in_flight == 0 and upstream.disconnects == 2)
    assert await eventually(lambda: job_status() == "cancelled")
