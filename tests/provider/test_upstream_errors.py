"""Upstream failures: the right status for the caller, one retry policy, nothing finished lost."""

from __future__ import annotations

import sqlite3
import time
from typing import Any

import grpc
import pytest
from visionstudio.image.v1 import image_service_pb2 as pb
from visionstudio.image.v1.image_service_pb2 import ImageEvent

from tests.fake_openai import Failure, FakeOpenAI
from tests.support.calls import generating
from tests.support.harness import AUTH, Harness, collect, eventually, images_of, rich_error
from tests.support.upstream_failures import ATTEMPTS, MODERATION, SERVER_ERROR, openai_error


async def _run(harness: Harness, request: pb.GenerateImageRequest, **kw: Any) -> list[ImageEvent]:
    events: list[ImageEvent] = []
    async for event in harness.stub.GenerateImage(request, metadata=AUTH, **kw):
        events.append(event)
    return events


@pytest.mark.parametrize(
    ("failure", "code", "reason", "calls"),
    [
        (MODERATION, grpc.StatusCode.INVALID_ARGUMENT, "CONTENT_POLICY_VIOLATION", 1),
        (
            Failure(400, openai_error("invalid_value", "bad size")),
            grpc.StatusCode.INVALID_ARGUMENT,
            "PROVIDER_REJECTED",
            1,
        ),
        (
            Failure(401, openai_error("invalid_api_key", "Incorrect API key provided: sk-up****")),
            grpc.StatusCode.INTERNAL,
            "PROVIDER_CREDENTIALS_REFUSED",
            1,
        ),
        (
            Failure(429, openai_error("insufficient_quota", "You exceeded your current quota")),
            grpc.StatusCode.INTERNAL,
            "PROVIDER_QUOTA_EXHAUSTED",
            1,
        ),
        (SERVER_ERROR, grpc.StatusCode.UNAVAILABLE, "UPSTREAM_UNAVAILABLE", ATTEMPTS),
    ],
)
async def test_upstream_errors_map_to_statuses_and_only_transient_ones_are_retried(
    harness: Harness,
    upstream: FakeOpenAI,
    failure: Failure,
    code: grpc.StatusCode,
    reason: str,
    calls: int,
) -> None:
    upstream.config.fail_next.extend([failure] * ATTEMPTS)
    events: list[ImageEvent] = []
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        events = await _run(harness, pb.GenerateImageRequest(prompt="a ship"))
    assert caught.value.code() == code
    details = rich_error(caught.value)
    assert details["reason"] == reason
    if code in (grpc.StatusCode.RESOURCE_EXHAUSTED, grpc.StatusCode.UNAVAILABLE):
        assert isinstance(details["retry"], float) and details["retry"] > 0
    assert "sk-up" not in (caught.value.details() or "")  # upstream secrets never leak
    assert "Traceback" not in (caught.value.details() or "")
    assert len(upstream.requests) == calls
    del events


async def test_a_transient_failure_is_retried_into_a_success(
    harness: Harness, upstream: FakeOpenAI
) -> None:
    upstream.config.fail_next.append(SERVER_ERROR)
    events = await _run(harness, pb.GenerateImageRequest(prompt="a ship"))
    assert len(images_of(events)) == 1
    assert len(upstream.requests) == 2


async def test_429s_are_waited_out_and_never_use_up_the_retries(
    harness: Harness, upstream: FakeOpenAI
) -> None:
    # More 429s than the retry limit allows failures: the call still succeeds.
    busy = Failure(429, openai_error("rate_limit_exceeded", "slow down"), {"retry-after-ms": "50"})
    upstream.config.fail_next.extend([busy] * (ATTEMPTS + 1))
    events = await _run(harness, pb.GenerateImageRequest(prompt="a ship"))
    assert len(images_of(events)) == 1
    assert len(upstream.requests) == ATTEMPTS + 2


async def test_retry_after_is_honoured(harness: Harness, upstream: FakeOpenAI) -> None:
    upstream.config.fail_next.append(
        Failure(429, openai_error("rate_limit_exceeded", "slow down"), {"Retry-After": "0.4"})
    )
    started = time.monotonic()
    events = await _run(harness, pb.GenerateImageRequest(prompt="a ship"))
    assert len(images_of(events)) == 1
    assert time.monotonic() - started >= 0.4


async def test_a_retry_after_beyond_the_deadline_fails_fast_with_retry_info(
    harness: Harness, upstream: FakeOpenAI
) -> None:
    upstream.config.fail_next.append(
        Failure(429, openai_error("rate_limit_exceeded", "slow down"), {"Retry-After": "60"})
    )
    started = time.monotonic()
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await _run(harness, pb.GenerateImageRequest(prompt="a ship"), timeout=10)
    assert time.monotonic() - started < 5
    assert caught.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    retry = rich_error(caught.value)["retry"]
    assert isinstance(retry, float) and 59 <= retry <= 60  # what the provider said, less the wait
    assert len(upstream.requests) == 1


async def test_partial_failure_delivers_and_stores_the_images_that_succeeded(
    harness: Harness, upstream: FakeOpenAI
) -> None:
    upstream.config.fail_next.append(MODERATION)
    events: list[ImageEvent] = []
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        async for event in harness.stub.GenerateImage(
            pb.GenerateImageRequest(prompt="three birds", number_of_images=3), metadata=AUTH
        ):
            events.append(event)
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "1 of 3 images failed" in (caught.value.details() or "")
    delivered = images_of(events)
    assert len(delivered) == 2
    metadata = rich_error(caught.value)["metadata"]
    assert isinstance(metadata, dict)
    failed = int(metadata["failed_indices"])
    assert sorted([*(i.index for i in delivered), failed]) == [0, 1, 2]

    job_id = events[0].accepted.job_id
    with sqlite3.connect(harness.data_dir / "jobs.sqlite3") as db:
        status, image_ids = db.execute(
            "SELECT status, image_ids FROM jobs WHERE id = ?", (job_id,)
        ).fetchone()
    assert status == "partial"
    assert all(i.image_id in image_ids for i in delivered)


@pytest.mark.parametrize("harness", [{"detach_jobs": False}], indirect=True)
async def test_a_hanging_upstream_yields_deadline_exceeded(
    harness: Harness, upstream: FakeOpenAI
) -> None:
    upstream.config.latency_s = 30
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await collect(
            harness.stub.GenerateImage(
                pb.GenerateImageRequest(prompt="slow"), metadata=AUTH, timeout=1.0
            )
        )
    assert caught.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED
    # The server gave up on the upstream call too, instead of waiting out its 30 s.
    assert await eventually(lambda: upstream.in_flight == 0)
    assert upstream.disconnects == 1


@pytest.mark.parametrize("harness", [{"detach_jobs": False}], indirect=True)
async def test_a_caller_that_cancels_aborts_every_upstream_request(
    harness: Harness, upstream: FakeOpenAI
) -> None:
    upstream.config.latency_s = 30
    call, _ = await generating(harness.stub, "slow", number_of_images=3)
    assert await eventually(lambda: upstream.in_flight == 3)
    call.cancel()
    assert await eventually(lambda: upstream.in_flight == 0, timeout_s=1.0)  # within a second
    assert upstream.disconnects == 3
