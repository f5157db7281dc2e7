"""The provider account's rate budget: exact spending, fairness between keys, following 429s."""

from __future__ import annotations

import asyncio
import time

import grpc
import pytest
from visionstudio.image.v1 import image_service_pb2 as pb
from visionstudio.server.errors import ResourceExhausted
from visionstudio.server.provider.budget import ProviderBudget

from tests.fake_openai import Failure, FakeOpenAI
from tests.support.harness import AUTH, Harness, collect, rich_error


async def test_an_unlimited_budget_never_waits() -> None:
    budget = ProviderBudget(images_per_minute=0, requests_per_minute=0)
    started = time.monotonic()
    await asyncio.gather(*(budget.acquire("a", time.monotonic() + 1) for _ in range(100)))
    assert time.monotonic() - started < 0.1


async def test_the_budget_is_spent_at_its_rate() -> None:
    budget = ProviderBudget(images_per_minute=600, requests_per_minute=0)  # 10 a second
    started = time.monotonic()
    await asyncio.gather(*(budget.acquire("a", started + 10) for _ in range(605)))
    # The full minute's burst at once, then the refill: five more take about half a second.
    assert 0.4 <= time.monotonic() - started <= 3


async def test_waiting_keys_are_served_in_turn() -> None:
    budget = ProviderBudget(images_per_minute=600, requests_per_minute=0)
    await asyncio.gather(*(budget.acquire("warm-up", time.monotonic() + 5) for _ in range(600)))
    order: list[str] = []

    async def call(caller: str) -> None:
        await budget.acquire(caller, time.monotonic() + 10)
        order.append(caller)

    # A greedy key queues 20 calls before a modest one queues 4: they still alternate.
    tasks = [asyncio.create_task(call("greedy")) for _ in range(20)]
    await asyncio.sleep(0)
    tasks += [asyncio.create_task(call("modest")) for _ in range(4)]
    await asyncio.gather(*tasks)
    # One greedy call was already being served; after it the two keys take turns.
    assert order[:9] == ["greedy"] + ["greedy", "modest"] * 4


async def test_no_room_before_the_deadline_is_resource_exhausted_with_retry_info() -> None:
    budget = ProviderBudget(images_per_minute=60, requests_per_minute=0)
    await asyncio.gather(*(budget.acquire("a", time.monotonic() + 1) for _ in range(60)))
    with pytest.raises(ResourceExhausted) as caught:
        await budget.acquire("a", time.monotonic() + 0.2)
    assert caught.value.reason == "PROVIDER_BUDGET" and caught.value.retry_after_s
    assert budget.waiting == 0


async def test_the_providers_word_is_followed() -> None:
    budget = ProviderBudget(images_per_minute=600, requests_per_minute=0)
    budget.observe(
        {
            "x-ratelimit-limit-images": "600",
            "x-ratelimit-remaining-images": "0",
            "x-ratelimit-reset-images": "1m0s",
        }
    )
    started = time.monotonic()
    await budget.acquire("a", started + 5)
    assert time.monotonic() - started >= 0.08  # had to wait for a refill
    budget.pause(0.3)
    started = time.monotonic()
    await budget.acquire("a", started + 5)
    assert time.monotonic() - started >= 0.29


@pytest.mark.parametrize("harness", [{"provider_images_per_minute": 600}], indirect=True)
async def test_a_429_pauses_every_caller_for_its_retry_after(
    harness: Harness, upstream: FakeOpenAI
) -> None:
    upstream.config.fail_next.append(
        Failure(429, {"message": "slow down", "type": "images"}, {"Retry-After": "0.5"})
    )
    started = time.monotonic()
    events = await asyncio.gather(
        *(
            collect(harness.stub.GenerateImage(pb.GenerateImageRequest(prompt=p), metadata=AUTH))
            for p in ("one", "two")
        )
    )
    assert all(e[-1].WhichOneof("event") == "summary" for e in events)
    assert time.monotonic() - started >= 0.5
    assert len(upstream.requests) == 3  # one 429, then one call each: no storm


# Jobs bounded by their caller's deadline (a detached job would rather wait for its budget).
@pytest.mark.parametrize(
    "harness", [{"provider_images_per_minute": 6, "detach_jobs": False}], indirect=True
)
async def test_callers_wait_for_budget_and_are_told_when_it_will_not_come(
    harness: Harness, upstream: FakeOpenAI
) -> None:
    await collect(
        harness.stub.GenerateImage(
            pb.GenerateImageRequest(prompt="burst", number_of_images=6), metadata=AUTH
        )
    )
    # The minute's six images are spent; the next one is ten seconds away.
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await collect(
            harness.stub.GenerateImage(
                pb.GenerateImageRequest(prompt="too many"), metadata=AUTH, timeout=1
            )
        )
    assert caught.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    details = rich_error(caught.value)
    assert details["reason"] == "PROVIDER_BUDGET"
    assert isinstance(details["retry"], float) and details["retry"] >= 5
    assert len(upstream.requests) == 6  # the provider never saw the seventh
