"""Both clients continue a stream cut by a server shutdown with WatchJob, without repeats;
and the keyword arguments and defaults every call takes."""

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import grpc
import pytest
from visionstudio.client import AsyncImageClient, ImageClient
from visionstudio.image.v1 import image_service_pb2 as pb

from tests.client.servicer import JOB_ID, serving
from tests.client.shutdown_servicer import ShuttingDownServicer

EXPECTED = ["accepted", ("image", 1), ("image", 0), "summary"]


@pytest.fixture
async def shutting_down() -> AsyncIterator[tuple[str, ShuttingDownServicer]]:
    servicer = ShuttingDownServicer()  # type: ignore[abstract]
    async with serving(servicer) as target:
        yield target, servicer


def _kinds(events: list[pb.ImageEvent]) -> list[object]:
    kinds: list[object] = []
    for event in events:
        kind = event.WhichOneof("event")
        kinds.append((kind, event.image.index) if kind == "image" else kind)
    return kinds


async def test_async_client_reattaches_once_the_server_shuts_down(
    shutting_down: tuple[str, ShuttingDownServicer],
) -> None:
    target, servicer = shutting_down
    servicer.cuts_left = 1  # the first watch is cut too: re-attaching is retried
    async with AsyncImageClient(target, "key-1") as client:
        events = [e async for e in client.generate("a cat", number_of_images=2, include_data=True)]

    assert _kinds(events) == EXPECTED
    watches = [r for r in servicer.requests if isinstance(r, pb.WatchJobRequest)]
    assert [(w.job_id, w.include_data) for w in watches] == [(JOB_ID, True), (JOB_ID, True)]


async def test_blocking_client_reattaches_the_same_way(
    shutting_down: tuple[str, ShuttingDownServicer],
) -> None:
    target, _ = shutting_down

    def run() -> list[pb.ImageEvent]:
        with ImageClient(target, "key-1") as client:
            return list(client.generate("a cat", number_of_images=2))

    assert _kinds(await asyncio.to_thread(run)) == EXPECTED


async def test_reattaching_is_bounded(shutting_down: tuple[str, ShuttingDownServicer]) -> None:
    target, servicer = shutting_down
    servicer.cuts_left = 100
    async with AsyncImageClient(target, "key-1", reattach_attempts=2) as client:
        with pytest.raises(grpc.aio.AioRpcError) as failure:
            _ = [e async for e in client.generate("a cat")]
    assert failure.value.code() == grpc.StatusCode.UNAVAILABLE
    assert sum(isinstance(r, pb.WatchJobRequest) for r in servicer.requests) == 2


async def test_every_request_field_is_a_keyword_and_the_environment_gives_the_defaults(
    shutting_down: tuple[str, ShuttingDownServicer], monkeypatch: pytest.MonkeyPatch
) -> None:
    target, servicer = shutting_down
    monkeypatch.setenv("VISIONSTUDIO_TARGET", target)
    monkeypatch.setenv("VISIONSTUDIO_API_KEY", "key-env")
    since, until = datetime(2026, 5, 1, tzinfo=UTC), datetime(2026, 5, 2, tzinfo=UTC)
    async with AsyncImageClient() as client:
        stream = client.generate("a cat", partial_images=2, idempotency_key="k-1", quality="low")
        _ = [e async for e in stream]
        await client.list_jobs(status="failed", created_after=since, created_before=until)
        usage = await client.usage(start_time=since, end_time=until.timestamp())

    request, listing, usage_request = (
        servicer.requests[0],
        servicer.requests[-2],
        servicer.requests[-1],
    )
    assert isinstance(request, pb.GenerateImageRequest)
    assert (request.partial_images, request.idempotency_key) == (2, "k-1")
    assert request.quality == pb.QUALITY_LOW
    assert isinstance(listing, pb.ListJobsRequest)
    assert listing.status == pb.JOB_STATUS_FAILED
    assert listing.created_after.ToDatetime(UTC) == since
    assert listing.created_before.ToDatetime(UTC) == until
    assert isinstance(usage_request, pb.GetUsageRequest)
    assert usage_request.start_time.ToDatetime(UTC) == since
    assert usage_request.end_time.ToDatetime(UTC) == until
    assert usage.jobs == 3
