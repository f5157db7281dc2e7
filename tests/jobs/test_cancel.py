"""CancelJob: a running job stops at once, keeps what it stored, and says why it ended."""

from __future__ import annotations

import aiohttp
import grpc
from visionstudio.image.v1 import image_service_pb2 as pb

from tests.fake_openai import FakeOpenAI
from tests.support.calls import generating, rpc_error
from tests.support.harness import AUTH, Harness, collect, eventually, rich_error
from tests.support.processes import rest

OTHER = (("x-api-key", "test-key-2"),)


async def test_cancelling_a_running_job_aborts_its_upstream_calls_and_ends_every_stream(
    harness: Harness, upstream: FakeOpenAI
) -> None:
    # The first image comes back at once and is kept; the other two would take minutes.
    upstream.config.next_latencies = [0.0]
    upstream.config.latency_s = 120.0
    call, job_id = await generating(harness.stub, "slow herons", number_of_images=3)
    image = await call.read()
    assert isinstance(image, pb.ImageEvent) and image.WhichOneof("event") == "image"
    watcher = harness.stub.WatchJob(pb.WatchJobRequest(job_id=job_id), metadata=AUTH)

    job = await harness.stub.CancelJob(pb.CancelJobRequest(job_id=job_id), metadata=AUTH)

    assert job.status == pb.JOB_STATUS_CANCELLED and "CancelJob" in job.error
    assert [i.image_id for i in job.images] == [image.image.image_id]
    for ending in (rest(call), collect(watcher)):
        err = await rpc_error(ending)
        assert err.code() == grpc.StatusCode.CANCELLED, err.details()
        assert rich_error(err)["metadata"] == {"job_id": job_id}
    assert await eventually(lambda: upstream.disconnects == 2, timeout_s=5.0)
    stored = await harness.stub.GetJob(pb.GetJobRequest(job_id=job_id), metadata=AUTH)
    assert stored.status == pb.JOB_STATUS_CANCELLED and len(stored.images) == 1


async def test_cancelling_a_finished_job_returns_it_unchanged(harness: Harness) -> None:
    events = await collect(
        harness.stub.GenerateImage(pb.GenerateImageRequest(prompt="a heron"), metadata=AUTH)
    )
    job_id = events[0].accepted.job_id
    before = await harness.stub.GetJob(pb.GetJobRequest(job_id=job_id), metadata=AUTH)
    after = await harness.stub.CancelJob(pb.CancelJobRequest(job_id=job_id), metadata=AUTH)
    assert after == before and after.status == pb.JOB_STATUS_SUCCEEDED


async def test_another_keys_job_cannot_be_cancelled(harness: Harness, upstream: FakeOpenAI) -> None:
    upstream.config.latency_s = 2.0
    call, job_id = await generating(harness.stub, "mine")
    err = await rpc_error(
        harness.stub.CancelJob(pb.CancelJobRequest(job_id=job_id), metadata=OTHER)
    )
    assert err.code() == grpc.StatusCode.NOT_FOUND
    await rest(call)


async def test_the_json_surface_cancels_too(harness: Harness, upstream: FakeOpenAI) -> None:
    upstream.config.latency_s = 120.0
    call, job_id = await generating(harness.stub, "slow")
    url = f"{harness.service.base_url}/api/v1/openai/jobs/{job_id}/cancel"
    async with aiohttp.ClientSession() as http:
        async with http.post(url, headers={"X-API-Key": "test-key-1"}) as resp:
            assert resp.status == 200
            body = await resp.json()
        async with http.post(url.replace(job_id, "nope")) as resp:
            assert resp.status == 401
    assert body["success"] is True
    assert body["data"]["job_id"] == job_id and body["data"]["status"] == "cancelled"
    assert (await rpc_error(rest(call))).code() == grpc.StatusCode.CANCELLED
