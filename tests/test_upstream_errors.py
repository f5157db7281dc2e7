"""Upstream failures reach the caller as the right status, and finished images are never lost."""

from __future__ import annotations

import asyncio
import sqlite3
from typing import Any

import grpc
import pytest

from tests.conftest import AUTH, Harness, collect, images_of, rich_error
from visionstudio.image.v1 import image_service_pb2 as pb
from visionstudio.image.v1.image_service_pb2 import ImageEvent
from visionstudio.testing.fake_openai import FakeOpenAI


def _error(code: str | None, message: str, kind: str = "invalid_request_error") -> dict[str, Any]:
    return {"error": {"message": message, "type": kind, "param": None, "code": code}}


@pytest.mark.parametrize(
    ("status", "body", "code", "reason"),
    [
        (
            400,
            _error("moderation_blocked", "Your request was rejected by the safety system."),
            grpc.StatusCode.INVALID_ARGUMENT,
            "CONTENT_POLICY_VIOLATION",
        ),
        (
            400,
            _error("invalid_value", "bad size"),
            grpc.StatusCode.INVALID_ARGUMENT,
            "PROVIDER_REJECTED",
        ),
        (
            401,
            _error("invalid_api_key", "Incorrect API key provided: sk-up****"),
            grpc.StatusCode.INTERNAL,
            "PROVIDER_CREDENTIALS_REFUSED",
        ),
        (
            429,
            _error("rate_limit_exceeded", "slow down", "requests"),
            grpc.StatusCode.RESOURCE_EXHAUSTED,
            "RATE_LIMITED",
        ),
        (
            500,
            _error(None, "boom", "server_error"),
            grpc.StatusCode.UNAVAILABLE,
            "UPSTREAM_UNAVAILABLE",
        ),
    ],
)
async def test_upstream_errors_map_to_statuses(
    harness: Harness,
    upstream: FakeOpenAI,
    status: int,
    body: dict[str, Any],
    code: grpc.StatusCode,
    reason: str,
) -> None:
    upstream.config.fail_next.append((status, body))
    events: list[ImageEvent] = []
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        async for event in harness.stub.GenerateImage(
            pb.GenerateImageRequest(prompt="a ship"), metadata=AUTH
        ):
            events.append(event)
    assert caught.value.code() == code
    details = rich_error(caught.value)
    assert details["reason"] == reason
    assert "sk-up" not in (caught.value.details() or "")  # upstream secrets never leak
    assert "Traceback" not in (caught.value.details() or "")
    assert [e.WhichOneof("event") for e in events] == ["accepted"]


async def test_partial_failure_delivers_and_stores_the_images_that_succeeded(
    harness: Harness, upstream: FakeOpenAI
) -> None:
    upstream.config.fail_next.append((500, _error(None, "boom", "server_error")))
    events: list[ImageEvent] = []
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        async for event in harness.stub.GenerateImage(
            pb.GenerateImageRequest(prompt="three birds", number_of_images=3), metadata=AUTH
        ):
            events.append(event)
    assert caught.value.code() == grpc.StatusCode.UNAVAILABLE
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
    for _ in range(40):
        if upstream.in_flight == 0:
            break
        await asyncio.sleep(0.05)
    assert upstream.in_flight == 0
