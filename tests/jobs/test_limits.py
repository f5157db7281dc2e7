"""Admission control: bounded concurrency, bounded queue, per-key caps and rate limits."""

from __future__ import annotations

import asyncio

import grpc
import pytest
from visionstudio.image.v1 import image_service_pb2 as pb
from visionstudio.server.errors import ResourceExhausted
from visionstudio.server.jobs.admission import Admission, Limits

from tests.fake_openai import FakeOpenAI
from tests.support.calls import generating
from tests.support.harness import AUTH, Harness, collect, eventually, rich_error


def _limits(**overrides: int) -> Limits:
    values = dict(
        max_in_flight=2,
        max_queued=2,
        per_key_in_flight=2,
        per_key_queued=2,
        per_key_images_per_minute=0,
    )
    values.update(overrides)
    return Limits(**values)


async def test_jobs_beyond_slots_and_queue_are_refused_at_once() -> None:
    admission = Admission(_limits(per_key_in_flight=10, per_key_queued=10))
    first = admission.admit("a", 3)
    admission.admit("b", 1)
    with pytest.raises(ResourceExhausted) as caught:
        admission.admit("c", 1)
    assert caught.value.reason == "SERVER_BUSY" and caught.value.retry_after_s
    first.close()
    admission.admit("c", 1)


async def test_per_key_caps_leave_room_for_other_keys() -> None:
    admission = Admission(_limits(max_in_flight=10, max_queued=10))
    admission.admit("a", 4)
    with pytest.raises(ResourceExhausted) as caught:
        admission.admit("a", 1)
    assert caught.value.reason == "KEY_CONCURRENCY_LIMIT"
    admission.admit("b", 4)


async def test_slots_bound_what_runs_and_release_what_finished() -> None:
    admission = Admission(_limits(max_queued=10, per_key_in_flight=2, per_key_queued=10))
    ticket = admission.admit("a", 5)
    gate = asyncio.Event()
    peak = 0

    async def image() -> None:
        nonlocal peak
        async with ticket.slot():
            peak = max(peak, admission.in_flight)
            await gate.wait()

    tasks = [asyncio.create_task(image()) for _ in range(5)]
    assert await eventually(lambda: admission.in_flight == 2)
    assert admission.queued == 3
    gate.set()
    await asyncio.gather(*tasks)
    assert peak == 2 and admission.in_flight == 0 and admission.queued == 0


async def test_rate_limit_per_key_says_when_to_retry() -> None:
    admission = Admission(_limits(max_queued=100, per_key_queued=100, per_key_images_per_minute=6))
    admission.admit("a", 4).close()
    with pytest.raises(ResourceExhausted) as caught:
        admission.admit("a", 4)
    assert caught.value.reason == "KEY_RATE_LIMIT"
    assert caught.value.retry_after_s == pytest.approx(20, abs=1)
    admission.admit("b", 4)


@pytest.mark.parametrize(
    "harness", [{"per_key_concurrency": 1, "per_key_queued_images": 1}], indirect=True
)
async def test_a_key_over_its_limit_gets_resource_exhausted_with_retry_info(
    harness: Harness, upstream: FakeOpenAI
) -> None:
    upstream.config.latency_s = 2
    busy, _ = await generating(harness.stub, "a", number_of_images=2)
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await collect(
            harness.stub.GenerateImage(pb.GenerateImageRequest(prompt="b"), metadata=AUTH)
        )
    assert caught.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    details = rich_error(caught.value)
    assert details["reason"] == "KEY_CONCURRENCY_LIMIT" and details["retry"]
    # Another key is not affected.
    other = (("x-api-key", "test-key-2"),)
    busy.cancel()
    upstream.config.latency_s = 0
    events = await collect(
        harness.stub.GenerateImage(pb.GenerateImageRequest(prompt="c"), metadata=other)
    )
    assert events[-1].WhichOneof("event") == "summary"
