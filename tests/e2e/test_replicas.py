"""Two server processes sharing one PostgreSQL and one bucket act as one service."""

from __future__ import annotations

import asyncio
import signal
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import grpc
import pytest
from visionstudio.image.v1 import image_service_pb2 as pb

from tests.fake_openai import FakeOpenAI
from tests.support.calls import accepted_job
from tests.support.harness import collect, images_of, rich_error
from tests.support.processes import KEY, ServerProcess, rest
from tests.support.replicas import replica_stubs, two_replicas
from tests.support.store_services import PostgresServer, S3Server, postgres_server, s3_server  # noqa: F401

AUTH = (("x-api-key", KEY),)


@pytest.fixture
async def replicas(
    upstream: FakeOpenAI,
    postgres_server: PostgresServer,  # noqa: F811
    s3_server: S3Server,  # noqa: F811
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> AsyncIterator[tuple[ServerProcess, ServerProcess]]:
    async with two_replicas(upstream, postgres_server, s3_server, monkeypatch, tmp_path) as pair:
        yield pair


async def test_a_job_started_on_one_replica_is_seen_watched_and_repeated_through_the_other(
    replicas: tuple[ServerProcess, ServerProcess], upstream: FakeOpenAI
) -> None:
    a, b = replicas
    upstream.config.next_latencies = [0.1, 0.3, 1.5]
    request = pb.GenerateImageRequest(prompt="relay", number_of_images=3, idempotency_key="r-1")
    async with replica_stubs(a, b) as (on_a, on_b):
        call = on_a.GenerateImage(request, metadata=AUTH)
        job_id = await accepted_job(call)

        async def seen_on_b() -> int:
            job = await on_b.GetJob(pb.GetJobRequest(job_id=job_id), metadata=AUTH)
            return len(job.images)

        for _ in range(100):  # the first image lands within about 0.1 s
            if await seen_on_b() >= 1:
                break
            await asyncio.sleep(0.05)
        assert await seen_on_b() >= 1
        watched = await collect(on_b.WatchJob(pb.WatchJobRequest(job_id=job_id), metadata=AUTH))
        assert [e.WhichOneof("event") for e in watched if e.HasField("image")] == ["image"] * 3
        assert watched[-1].WhichOneof("event") == "summary"
        repeated = await collect(on_b.GenerateImage(request, metadata=AUTH))
        assert repeated[0].accepted.job_id == job_id
        assert {i.image_id for i in images_of(repeated)} == {i.image_id for i in images_of(watched)}
        assert len(upstream.requests) == 3  # nothing was made twice
        call.cancel()


async def test_killing_a_replica_mid_job_the_other_finishes_it(
    replicas: tuple[ServerProcess, ServerProcess], upstream: FakeOpenAI
) -> None:
    a, b = replicas
    upstream.config.next_latencies = [0.1, 0.2, 60]
    async with replica_stubs(a, b) as (on_a, on_b):
        call = on_a.GenerateImage(
            pb.GenerateImageRequest(prompt="fragile", number_of_images=3), metadata=AUTH
        )
        delivered = []
        job_id = ""
        async for event in call:
            if event.HasField("accepted"):
                job_id = event.accepted.job_id
            if event.HasField("image"):
                delivered.append(event.image)
            if len(delivered) == 2:
                break
        a.kill()  # SIGKILL: no chance to clean up
        job = await on_b.GetJob(pb.GetJobRequest(job_id=job_id), metadata=AUTH)
        assert job.status == pb.JOB_STATUS_RUNNING
        assert {i.image_id for i in job.images} == {i.image_id for i in delivered}
        # The survivor claims the job once a's lease runs out and makes only the missing image.
        watched = await collect(on_b.WatchJob(pb.WatchJobRequest(job_id=job_id), metadata=AUTH))
        job = await on_b.GetJob(pb.GetJobRequest(job_id=job_id), metadata=AUTH)
    assert watched[-1].WhichOneof("event") == "summary"
    assert sorted(i.index for i in images_of(watched)) == [0, 1, 2]
    assert job.status == pb.JOB_STATUS_SUCCEEDED and len(job.images) == 3
    assert len(upstream.requests) == 4  # 3 on a (one cut by the kill), 1 on b
    async with aiohttp.ClientSession() as http:
        for image in job.images:
            async with http.get(image.url) as resp:
                assert resp.status == 200 and resp.content_type == "image/png"


async def test_sigterm_hands_a_job_to_the_other_replica_without_making_anything_twice(
    replicas: tuple[ServerProcess, ServerProcess], upstream: FakeOpenAI
) -> None:
    a, b = replicas
    upstream.config.next_latencies = [0.1, 60, 60]  # two images the 1 s grace cannot wait for
    async with replica_stubs(a, b) as (on_a, on_b):
        call = on_a.GenerateImage(
            pb.GenerateImageRequest(prompt="deploy", number_of_images=3), metadata=AUTH
        )
        job_id = await accepted_job(call)
        first = await call.read()
        assert isinstance(first, pb.ImageEvent) and first.HasField("image")
        a.proc.send_signal(signal.SIGTERM)
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await rest(call)
        watched = await collect(on_b.WatchJob(pb.WatchJobRequest(job_id=job_id), metadata=AUTH))
    cut = caught.value
    assert cut.code() == grpc.StatusCode.UNAVAILABLE
    assert rich_error(cut)["reason"] == "SERVER_SHUTTING_DOWN"
    assert rich_error(cut)["metadata"] == {"job_id": job_id}
    assert await asyncio.to_thread(a.proc.wait, 30) == 0
    assert watched[-1].WhichOneof("event") == "summary"
    images = images_of(watched)
    assert sorted(i.index for i in images) == [0, 1, 2]
    assert first.image.image_id in {i.image_id for i in images}
    assert len(upstream.requests) == 5  # the stored image was not made again


async def test_a_job_cancelled_through_the_other_replica_stops_where_it_runs(
    replicas: tuple[ServerProcess, ServerProcess], upstream: FakeOpenAI
) -> None:
    a, b = replicas
    upstream.config.latency_s = 120.0
    async with replica_stubs(a, b) as (on_a, on_b):
        call = on_a.GenerateImage(
            pb.GenerateImageRequest(prompt="unwanted", number_of_images=2), metadata=AUTH
        )
        job_id = await accepted_job(call)
        job = await on_b.CancelJob(pb.CancelJobRequest(job_id=job_id), metadata=AUTH)
        assert job.status == pb.JOB_STATUS_CANCELLED
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            while await call.read() is not grpc.aio.EOF:
                pass
    # Replica a learned it from the shared database and hung up on the upstream.
    assert caught.value.code() == grpc.StatusCode.CANCELLED
    for _ in range(100):
        if upstream.disconnects == 2:
            break
        await asyncio.sleep(0.05)
    assert upstream.disconnects == 2
