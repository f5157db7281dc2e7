"""The budget with no configuration: it learns the provider's limits from its answers, so a
burst far beyond them still ends with every caller served and few 429s upstream.

(How fast the burst finishes against the ideal is `make bench`'s job: `bench/budget.py`.)
"""

from __future__ import annotations

import asyncio

from visionstudio.image.v1 import image_service_pb2 as pb

from tests.fake_openai import FakeOpenAI
from tests.support.harness import AUTH, Harness, collect, images_of

BURST = 24


def _limit(upstream: FakeOpenAI) -> None:
    """8 images per 2 s: a burst of 8, then 4 a second."""
    upstream.config.rate_limit_images_per_minute = 8
    upstream.config.rate_limit_window_s = 2.0


async def _one(harness: Harness, prompt: str) -> int:
    call = harness.stub.GenerateImage(pb.GenerateImageRequest(prompt=prompt), metadata=AUTH)
    return len(images_of(await collect(call)))


async def test_a_burst_after_one_call_is_paced_to_the_learned_limit(
    harness: Harness, upstream: FakeOpenAI
) -> None:
    _limit(upstream)
    assert await _one(harness, "first") == 1  # its answer tells the limits
    delivered = await asyncio.gather(*(_one(harness, f"burst {i}") for i in range(BURST)))
    assert delivered == [1] * BURST
    assert upstream.rate_limited <= 3  # paced, not stormed


async def test_a_burst_with_nothing_learned_is_still_served_in_full(
    harness: Harness, upstream: FakeOpenAI
) -> None:
    _limit(upstream)
    delivered = await asyncio.gather(*(_one(harness, f"burst {i}") for i in range(BURST)))
    assert delivered == [1] * BURST
    # The first wave teaches the limits; after it, calls are paced instead of refused again.
    assert upstream.rate_limited <= BURST
