"""Jobs outlive their calls: re-attach, idempotent repeats, listings, usage, retention."""

from __future__ import annotations

import asyncio

import aiohttp
import grpc
import pytest
from google.protobuf import timestamp_pb2
from visionstudio.client import AsyncImageClient, ImageClient
from visionstudio.image.v1 import image_service_pb2 as pb
from visionstudio.server.store.retention import Retention

from tests.fake_openai import Failure, FakeOpenAI
from tests.support.calls import generating
from tests.support.harness import AUTH, Harness, collect, images_of, rich_error
from tests.support.images import png

OTHER = (("x-api-key", "test-key-2"),)


async def _generate(harness: Harness, **fields: object) -> list[pb.ImageEvent]:
    request = pb.GenerateImageRequest(prompt="a heron", **fields)  # type: ignore[arg-type]
    return await collect(harness.stub.GenerateImage(request, metadata=AUTH))


async def test_a_job_runs_on_after_its_caller_leaves_and_can_be_watched(
    harness: Harness, upstream: FakeOpenAI
) -> None:
    upstream.config.latency_s = 0.5
    call, job_id = await generating(harness.stub, "patience", number_of_images=3)
    call.cancel()
    watched = await collect(
        harness.stub.WatchJob(pb.WatchJobRequest(job_id=job_id, include_data=True), metadata=AUTH)
    )
    kinds = [e.WhichOneof("event") for e in watched if e.WhichOneof("event") != "progress"]
    assert kinds == ["accepted", "image", "image", "image", "summary"]
    assert sorted(i.index for i in images_of(watched)) == [0, 1, 2]
    assert all(i.data for i in images_of(watched))
    assert upstream.disconnects == 0 and len(upstream.requests) == 3
    job = await harness.stub.GetJob(pb.GetJobRequest(job_id=job_id), metadata=AUTH)
    assert job.status == pb.JOB_STATUS_SUCCEEDED and len(job.images) == 3
    assert job.usage.output_tokens > 0 and job.operation == "generate"
    async with aiohttp.ClientSession() as http, http.get(job.images[0].url) as resp:
        assert resp.status == 200


async def test_an_idempotent_repeat_re_attaches_instead_of_paying_again(
    harness: Harness, upstream: FakeOpenAI
) -> None:
    first = await _generate(harness, number_of_images=2, idempotency_key="order-17")
    again = await _generate(harness, number_of_images=2, idempotency_key="order-17")
    assert again[0].accepted.job_id == first[0].accepted.job_id
    assert {i.image_id for i in images_of(again)} == {i.image_id for i in images_of(first)}
    assert again[-1].WhichOneof("event") == "summary"
    assert len(upstream.requests) == 2  # the repeat made nothing new

    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await _generate(harness, number_of_images=3, idempotency_key="order-17")
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    details = rich_error(caught.value)
    assert details["reason"] == "IDEMPOTENCY_KEY_REUSED" and details["fields"] == [
        "idempotency_key"
    ]


async def test_an_edit_repeated_with_its_key_and_other_image_bytes_is_refused(
    harness: Harness, upstream: FakeOpenAI
) -> None:
    def edit(color: tuple[int, int, int]) -> pb.EditImageRequest:
        image = png((64, 48), color)
        return pb.EditImageRequest(prompt="dusk", image_file=image, idempotency_key="edit-9")

    first = await collect(harness.stub.EditImage(edit((10, 20, 30)), metadata=AUTH))
    again = await collect(harness.stub.EditImage(edit((10, 20, 30)), metadata=AUTH))
    assert again[0].accepted.job_id == first[0].accepted.job_id
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await collect(harness.stub.EditImage(edit((10, 20, 31)), metadata=AUTH))
    assert rich_error(caught.value)["reason"] == "IDEMPOTENCY_KEY_REUSED"
    assert len(upstream.requests) == 1


async def test_a_call_without_a_key_is_not_fingerprinted(harness: Harness) -> None:
    request = pb.EditImageRequest(prompt="dusk", image_file=png((64, 48)))
    events = await collect(harness.stub.EditImage(request, metadata=AUTH))
    job = await harness.service.core.jobs.get_job(events[0].accepted.job_id)
    assert job is not None and job.request_hash is None
    assert job.params["image"] == {"field": "image_file", "bytes": len(request.image_file)}


async def test_concurrent_repeats_make_one_job(harness: Harness, upstream: FakeOpenAI) -> None:
    upstream.config.latency_s = 0.3
    results = await asyncio.gather(*(_generate(harness, idempotency_key="same") for _ in range(5)))
    assert len({r[0].accepted.job_id for r in results}) == 1
    assert all(r[-1].WhichOneof("event") == "summary" for r in results)
    assert len(upstream.requests) == 1


async def test_jobs_are_private_to_their_key(harness: Harness) -> None:
    events = await _generate(harness)
    job_id = events[0].accepted.job_id
    for call in (
        harness.stub.GetJob(pb.GetJobRequest(job_id=job_id), metadata=OTHER),
        collect(harness.stub.WatchJob(pb.WatchJobRequest(job_id=job_id), metadata=OTHER)),
    ):
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await call
        assert caught.value.code() == grpc.StatusCode.NOT_FOUND
    listed = await harness.stub.ListJobs(pb.ListJobsRequest(), metadata=OTHER)
    assert list(listed.jobs) == []


async def test_listing_pages_and_filters(harness: Harness, upstream: FakeOpenAI) -> None:
    for _ in range(5):
        await _generate(harness)
    upstream.config.fail_next.extend(
        [Failure(400, {"message": "no", "type": "invalid_request_error", "code": "x"})]
    )
    with pytest.raises(grpc.aio.AioRpcError):
        await _generate(harness)
    seen: list[str] = []
    token = ""
    while True:
        page = await harness.stub.ListJobs(
            pb.ListJobsRequest(page_size=2, page_token=token), metadata=AUTH
        )
        seen.extend(j.job_id for j in page.jobs)
        token = page.next_page_token
        if not token:
            break
    assert len(seen) == len(set(seen)) == 6
    failed = await harness.stub.ListJobs(
        pb.ListJobsRequest(status=pb.JOB_STATUS_FAILED), metadata=AUTH
    )
    assert [j.status for j in failed.jobs] == [pb.JOB_STATUS_FAILED]
    future = timestamp_pb2.Timestamp()
    future.GetCurrentTime()
    future.seconds += 3600
    none = await harness.stub.ListJobs(pb.ListJobsRequest(created_after=future), metadata=AUTH)
    assert list(none.jobs) == []


async def test_usage_adds_up_per_key(harness: Harness) -> None:
    a = await _generate(harness, number_of_images=2)
    b = await _generate(harness)
    usage = await harness.stub.GetUsage(pb.GetUsageRequest(), metadata=AUTH)
    assert (usage.jobs, usage.images) == (2, 3)
    assert usage.usage.output_tokens == (
        a[-1].summary.usage.output_tokens + b[-1].summary.usage.output_tokens
    )
    other = await harness.stub.GetUsage(pb.GetUsageRequest(), metadata=OTHER)
    assert (other.jobs, other.images) == (0, 0)


async def test_watching_a_failed_job_reports_it(harness: Harness, upstream: FakeOpenAI) -> None:
    upstream.config.fail_next.append(
        Failure(400, {"message": "no", "type": "invalid_request_error", "code": "x"})
    )
    with pytest.raises(grpc.aio.AioRpcError) as first:
        await _generate(harness)
    job_id = rich_error(first.value)["metadata"]["job_id"]  # type: ignore[index]
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await collect(harness.stub.WatchJob(pb.WatchJobRequest(job_id=job_id), metadata=AUTH))
    assert caught.value.code() == grpc.StatusCode.ABORTED
    assert rich_error(caught.value)["reason"] == "JOB_FAILED"


async def test_retention_deletes_old_jobs_and_their_images(harness: Harness) -> None:
    events = await _generate(harness)
    (image,) = images_of(events)
    retention = Retention(
        harness.service.core.jobs, harness.service.core.blobs, keep_s=0.05, interval_s=1
    )
    await asyncio.sleep(0.1)
    assert await retention.purge_once() == 1
    async with aiohttp.ClientSession() as http, http.get(image.url) as resp:
        assert resp.status == 404
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await harness.stub.GetJob(pb.GetJobRequest(job_id=events[0].accepted.job_id), metadata=AUTH)
    assert caught.value.code() == grpc.StatusCode.NOT_FOUND


async def test_the_json_surface_takes_idempotency_keys_too(
    harness: Harness, upstream: FakeOpenAI
) -> None:
    url = (
        f"http://127.0.0.1:{harness.service.http_port}"
        "/api/v1/openai/image/generation/generate-image"
    )
    body = {"prompt": "a kite", "idempotency_key": "http-1"}
    headers = {"X-API-Key": AUTH[0][1]}
    async with aiohttp.ClientSession() as http:
        answers = []
        for _ in range(2):
            async with http.post(url, json=body, headers=headers) as resp:
                assert resp.status == 200
                answers.append(await resp.json())
    assert answers[0]["data"]["job_id"] == answers[1]["data"]["job_id"]
    assert len(upstream.requests) == 1


async def test_the_python_client_watches_gets_lists_and_counts(harness: Harness) -> None:
    target = f"127.0.0.1:{harness.service.grpc_port}"
    async with AsyncImageClient(target, AUTH[0][1]) as client:
        events = [e async for e in client.generate("a crane", number_of_images=2)]
        job_id = events[0].accepted.job_id
        watched = [e async for e in client.watch(job_id)]
        assert len(images_of(watched)) == 2
        assert (await client.get_job(job_id)).status == pb.JOB_STATUS_SUCCEEDED
        assert [j.job_id for j in (await client.list_jobs()).jobs] == [job_id]
        assert (await client.usage()).images == 2
    with ImageClient(target, AUTH[0][1]) as blocking:
        job = await asyncio.to_thread(blocking.get_job, job_id)
        assert len(job.images) == 2


async def test_a_refused_request_repeated_with_its_key_is_refused_again(
    harness: Harness, upstream: FakeOpenAI
) -> None:
    request = pb.EditImageRequest(prompt="x", image_file=b"not an image", idempotency_key="bad-1")
    for _ in range(2):
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await collect(harness.stub.EditImage(request, metadata=AUTH))
        assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert rich_error(caught.value)["fields"] == ["image_file"]
    assert upstream.requests == []


async def test_each_stored_image_records_its_usage_and_deployment(harness: Harness) -> None:
    events = await _generate(harness)
    job_id = events[0].accepted.job_id
    (stored,) = await harness.service.core.jobs.list_images(job_id)
    assert stored.deployment == "default"
    assert stored.usage is not None
    assert stored.usage.output_tokens == events[-1].summary.usage.output_tokens > 0
