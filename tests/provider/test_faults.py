"""Connection faults upstream (dropped connections, hangs): the caller gets the right status on
time, the upstream request is given up, and every other caller is served throughout."""

from __future__ import annotations

import asyncio
import time

import grpc
import pytest
from visionstudio.image.v1 import image_service_pb2 as pb

from tests.fake_openai import FakeOpenAI
from tests.support.calls import rpc_error
from tests.support.harness import AUTH, Harness, collect, eventually, images_of, rich_error
from tests.support.upstream_failures import ATTEMPTS


async def _generate(
    harness: Harness, prompt: str, deadline_s: float | None = None
) -> list[pb.Image]:
    call = harness.stub.GenerateImage(
        pb.GenerateImageRequest(prompt=prompt), metadata=AUTH, timeout=deadline_s
    )
    return images_of(await collect(call))


async def _hang_past_the_deadline(
    harness: Harness, upstream: FakeOpenAI, deadline_s: float | None
) -> float:
    """Asks for an image the upstream hangs on: the caller must get DEADLINE_EXCEEDED within
    1.5 s. Returns when the call started."""
    upstream.config.hang_next = 1
    started = time.monotonic()
    err = await rpc_error(_generate(harness, "hangs", deadline_s))
    assert err.code() == grpc.StatusCode.DEADLINE_EXCEEDED
    assert time.monotonic() - started < 1.5
    return started


async def test_a_dropped_connection_is_retried_into_a_success(
    harness: Harness, upstream: FakeOpenAI
) -> None:
    upstream.config.drop_next = 1
    assert len(await _generate(harness, "a ship")) == 1
    assert len(upstream.requests) == 2
    assert upstream.config.drop_next == 0


async def test_drops_on_every_attempt_are_unavailable_while_others_are_served(
    harness: Harness, upstream: FakeOpenAI
) -> None:
    # A bystander's call is in flight upstream (slowed down) before the drops start.
    upstream.config.next_latencies.append(0.5)
    bystander = asyncio.ensure_future(_generate(harness, "a bystander"))
    assert await eventually(lambda: not upstream.config.next_latencies)
    upstream.config.drop_next = ATTEMPTS
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await _generate(harness, "a ship")
    assert caught.value.code() == grpc.StatusCode.UNAVAILABLE
    details = rich_error(caught.value)
    assert details["reason"] == "UPSTREAM_UNAVAILABLE"
    assert isinstance(details["retry"], float) and details["retry"] > 0
    assert "Traceback" not in (caught.value.details() or "")
    assert upstream.config.drop_next == 0
    assert len(upstream.requests) == 1 + ATTEMPTS
    assert not bystander.done()  # the failure did not wait for, or disturb, the other call
    assert len(await bystander) == 1
    assert len(await _generate(harness, "afterwards")) == 1


@pytest.mark.parametrize("harness", [{"detach_jobs": False}], indirect=True)
async def test_a_hanging_upstream_meets_the_callers_deadline_while_others_are_served(
    harness: Harness, upstream: FakeOpenAI
) -> None:
    upstream.config.hang_next = 1
    started = time.monotonic()
    hanging = asyncio.ensure_future(_generate(harness, "hangs", deadline_s=1.0))
    assert await eventually(lambda: upstream.config.hang_next == 0)
    assert len(await _generate(harness, "a bystander")) == 1  # served while the other hangs
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await hanging
    assert caught.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED
    assert time.monotonic() - started < 1.5
    # The server gave up the upstream request too: the fake saw its client hang up.
    assert await eventually(lambda: upstream.disconnects == 1 and upstream.in_flight == 0)
    assert len(await _generate(harness, "afterwards")) == 1


@pytest.mark.parametrize("harness", [{"max_call_s": 2.0}], indirect=True)
async def test_a_detached_job_gives_up_a_hanging_upstream_at_the_job_limit(
    harness: Harness, upstream: FakeOpenAI
) -> None:
    started = await _hang_past_the_deadline(harness, upstream, deadline_s=1.0)
    # The caller stopped waiting, the job did not (detached jobs keep their images)...
    assert upstream.in_flight == 1 and upstream.disconnects == 0
    # ...until the limit every job has: then its upstream request is given up too.
    assert await eventually(lambda: upstream.disconnects == 1, timeout_s=2.0)
    assert time.monotonic() - started < 2.5
    assert len(await _generate(harness, "afterwards")) == 1


@pytest.mark.parametrize("harness", [{"max_call_s": 1.0}], indirect=True)
async def test_without_a_caller_deadline_the_server_maximum_ends_a_hang(
    harness: Harness, upstream: FakeOpenAI
) -> None:
    await _hang_past_the_deadline(harness, upstream, deadline_s=None)
    assert await eventually(lambda: upstream.disconnects == 1 and upstream.in_flight == 0)
    assert len(await _generate(harness, "afterwards")) == 1
