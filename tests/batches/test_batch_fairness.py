"""A large batch runs at the provider budget's pace without starving other keys' single calls."""

from __future__ import annotations

import asyncio
import statistics
import time

from visionstudio.image.v1 import image_service_pb2 as pb

from tests.fake_openai import FakeOpenAI
from tests.support.batches import collect_batch, generate
from tests.support.harness import AUTH, Harness, collect, images_of

OTHER = (("x-api-key", "test-key-2"),)
ITEMS = 200
# The account's limit: a burst of 60 images, then 30 a second.
LIMIT, WINDOW_S = 60, 2.0
IDEAL_S = (ITEMS - LIMIT) / (LIMIT / WINDOW_S)


async def single_call_s(harness: Harness, prompt: str) -> float:
    started = time.monotonic()
    call = harness.stub.GenerateImage(pb.GenerateImageRequest(prompt=prompt), metadata=OTHER)
    assert len(images_of(await collect(call))) == 1
    return time.monotonic() - started


async def latencies(harness: Harness, label: str, calls: int = 5) -> list[float]:
    return [await single_call_s(harness, f"{label} {n}") for n in range(calls)]


async def test_a_large_batch_takes_the_budgets_pace_and_other_keys_keep_their_latency(
    harness: Harness, upstream: FakeOpenAI
) -> None:
    upstream.config.rate_limit_images_per_minute = LIMIT
    upstream.config.rate_limit_window_s = WINDOW_S
    idle = statistics.median(await latencies(harness, "idle"))
    items = [generate(f"i{n}", f"a tile {n}") for n in range(ITEMS)]
    started = time.monotonic()
    batch = asyncio.create_task(
        collect_batch(harness.stub.RunBatch(pb.RunBatchRequest(items=items), metadata=AUTH))
    )
    await asyncio.sleep(1.0)  # past the account's burst: the budget is pacing now
    during = await latencies(harness, "during")
    events = await batch
    elapsed = time.monotonic() - started
    assert events[-1].summary.items_succeeded == ITEMS
    # At the budget's pace: paced rather than refused, and not much slower than the limit.
    assert upstream.rate_limited <= 10
    assert elapsed < IDEAL_S * 2 + 2, elapsed
    # The other key's calls waited their turn at the budget, not behind the batch's 200 items
    # (which would take seconds); the bound leaves room for a loaded machine.
    assert statistics.median(during) < idle * 4 + 0.5, (idle, during)
