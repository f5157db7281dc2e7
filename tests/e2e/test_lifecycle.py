"""The server process: graceful SIGTERM, readiness, fail-closed start-up."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import grpc
import pytest
from grpc_health.v1 import health_pb2
from visionstudio.image.v1 import image_service_pb2 as pb
from visionstudio.image.v1 import image_service_pb2_grpc as pb_grpc

from tests.fake_openai import FakeOpenAI
from tests.support.calls import accepted_job
from tests.support.harness import collect, eventually, rich_error
from tests.support.processes import KEY, ServerProcess, free_port, listening, rest


@pytest.fixture
async def server(upstream: FakeOpenAI, tmp_path: Path) -> AsyncIterator[ServerProcess]:
    proc = ServerProcess(upstream.base_url, tmp_path)
    await proc.ready()
    yield proc
    proc.kill()


async def _health(channel: grpc.aio.Channel, service: str) -> int:
    check = channel.unary_unary(
        "/grpc.health.v1.Health/Check",
        request_serializer=health_pb2.HealthCheckRequest.SerializeToString,
        response_deserializer=health_pb2.HealthCheckResponse.FromString,
    )
    answer = await check(health_pb2.HealthCheckRequest(service=service))
    return int(answer.status)


async def test_sigterm_lets_in_flight_streams_finish_then_exits_zero(
    server: ServerProcess, upstream: FakeOpenAI
) -> None:
    upstream.config.latency_s = 1.5
    async with grpc.aio.insecure_channel(f"127.0.0.1:{server.grpc_port}") as channel:
        stub = pb_grpc.ImageServiceStub(channel)
        call = stub.GenerateImage(
            pb.GenerateImageRequest(prompt="late", number_of_images=2),
            metadata=(("x-api-key", KEY),),
        )
        first = await call.read()
        assert isinstance(first, pb.ImageEvent) and first.WhichOneof("event") == "accepted"
        server.proc.send_signal(signal.SIGTERM)
        remaining = await rest(call)
        kinds = [e.WhichOneof("event") for e in remaining]
        assert kinds == ["image", "image", "summary"]
    # The images were stored before the process went away, and it exited cleanly.
    assert await asyncio.to_thread(server.proc.wait, 30) == 0
    assert not listening(server.grpc_port)


async def test_readiness_follows_the_provider(server: ServerProcess, upstream: FakeOpenAI) -> None:
    service = "visionstudio.image.v1.ImageService"
    async with grpc.aio.insecure_channel(f"127.0.0.1:{server.grpc_port}") as channel:
        assert await _health(channel, service) == health_pb2.HealthCheckResponse.SERVING
        await upstream.stop()

        async def not_serving() -> bool:
            return await _health(channel, service) == health_pb2.HealthCheckResponse.NOT_SERVING

        for _ in range(50):
            if await not_serving():
                break
            await asyncio.sleep(0.1)
        assert await not_serving()
        async with aiohttp.ClientSession() as http:
            async with http.get(f"http://127.0.0.1:{server.http_port}/readyz") as resp:
                assert resp.status == 503
            async with http.get(f"http://127.0.0.1:{server.http_port}/healthz") as resp:
                assert resp.status == 200
        # The process itself stays alive: liveness is not readiness.
        assert await _health(channel, "") == health_pb2.HealthCheckResponse.SERVING


def test_no_client_keys_means_no_start(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k != "VISIONSTUDIO_API_KEYS"}
    env["OPENAI_API_KEY"] = "sk-x"
    done = subprocess.run(
        [sys.executable, "-m", "visionstudio.server.main", "--data-dir", str(tmp_path)],
        env=env, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert done.returncode == 2
    assert "no client API keys" in done.stderr


async def test_sigterm_refuses_new_calls_on_both_surfaces_while_running_ones_finish(
    server: ServerProcess, upstream: FakeOpenAI
) -> None:
    upstream.config.latency_s = 2
    auth = (("x-api-key", KEY),)
    base = f"http://127.0.0.1:{server.http_port}"
    generate = f"{base}/api/v1/openai/image/generation/generate-image"
    async with (
        grpc.aio.insecure_channel(server.target) as channel,
        aiohttp.ClientSession(headers={"X-API-Key": KEY}) as http,
    ):
        stub = pb_grpc.ImageServiceStub(channel)
        busy = stub.GenerateImage(pb.GenerateImageRequest(prompt="busy"), metadata=auth)
        await busy.read()
        running_http = asyncio.create_task(http.post(generate, json={"prompt": "busy too"}))
        assert await eventually(lambda: len(upstream.requests) == 2, timeout_s=10)
        server.proc.send_signal(signal.SIGTERM)
        # Refused within half a second of the signal (the sleep is the budget, not a wait).
        await asyncio.sleep(0.5)
        async with http.post(generate, json={"prompt": "new"}) as refused:
            assert refused.status == 503 and "Retry-After" in refused.headers
        async with http.get(f"{base}/readyz") as ready:
            assert ready.status == 503
        async with grpc.aio.insecure_channel(server.target) as fresh:
            with pytest.raises(grpc.aio.AioRpcError) as caught:
                await collect(
                    pb_grpc.ImageServiceStub(fresh).GenerateImage(
                        pb.GenerateImageRequest(prompt="new"), metadata=auth
                    )
                )
        assert caught.value.code() == grpc.StatusCode.UNAVAILABLE
        assert [e.WhichOneof("event") for e in await rest(busy)] == ["image", "summary"]
        async with await running_http as answer:
            assert answer.status == 200 and (await answer.json())["success"] is True
    assert await asyncio.to_thread(server.proc.wait, 30) == 0


@pytest.mark.parametrize("surface", ["--grpc-port", "--http-port"])
def test_a_busy_port_ends_the_start_at_once_with_one_line(surface: str, tmp_path: Path) -> None:
    with socket.create_server(("0.0.0.0", 0)) as taken:
        port = taken.getsockname()[1]
        others = {"--grpc-port": str(free_port()), "--http-port": str(free_port())}
        others[surface] = str(port)
        env = {**os.environ, "OPENAI_API_KEY": "sk-x", "VISIONSTUDIO_API_KEYS": KEY}
        args = [arg for pair in others.items() for arg in pair]
        done = subprocess.run(
            [sys.executable, "-m", "visionstudio.server.main", "--data-dir", str(tmp_path),
             "--log-format", "text", *args],
            env=env, capture_output=True, text=True, timeout=60,
        )  # fmt: skip
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and f"port {port} is already in use" in lines[0], done.stderr


async def test_a_job_cut_by_sigkill_is_finished_by_the_restarted_server(
    upstream: FakeOpenAI, tmp_path: Path
) -> None:
    lease = {"VISIONSTUDIO_JOB_LEASE_S": "2"}
    first = ServerProcess(upstream.base_url, tmp_path, **lease)
    await first.ready()
    upstream.config.next_latencies = [0.1, 0.2, 60, 60]
    auth = (("x-api-key", KEY),)
    try:
        async with grpc.aio.insecure_channel(first.target) as channel:
            call = pb_grpc.ImageServiceStub(channel).GenerateImage(
                pb.GenerateImageRequest(prompt="half", number_of_images=4), metadata=auth
            )
            job_id = await accepted_job(call)
            made = [await call.read(), await call.read()]
            assert all(isinstance(e, pb.ImageEvent) and e.HasField("image") for e in made)
            first.proc.kill()  # SIGKILL, half done
    finally:
        first.kill()
    again = ServerProcess(upstream.base_url, tmp_path, **lease)
    try:
        await again.ready()
        async with grpc.aio.insecure_channel(again.target) as channel:
            stub = pb_grpc.ImageServiceStub(channel)
            watched = await collect(stub.WatchJob(pb.WatchJobRequest(job_id=job_id), metadata=auth))
            job = await stub.GetJob(pb.GetJobRequest(job_id=job_id), metadata=auth)
            made_upstream = len(upstream.requests)
            one = await collect(
                stub.GenerateImage(pb.GenerateImageRequest(prompt="half"), metadata=auth)
            )
        metrics_url = f"http://127.0.0.1:{again.http_port}/metrics"
        async with aiohttp.ClientSession() as http, http.get(metrics_url, headers=dict(auth)) as r:
            metrics = await r.text()
    finally:
        again.kill()
    assert 'visionstudio_jobs_resumed_total{outcome="resumed"} 1.0' in metrics
    assert watched[-1].WhichOneof("event") == "summary"
    images = [e.image for e in watched if e.HasField("image")]
    assert sorted(i.index for i in images) == [0, 1, 2, 3]
    assert {e.image.image_id for e in made if isinstance(e, pb.ImageEvent)} <= {
        i.image_id for i in images
    }
    assert job.status == pb.JOB_STATUS_SUCCEEDED and len(job.images) == 4
    # The job's usage counts the images its first owner made too, not only the restarted one's.
    assert job.usage.output_tokens == 4 * one[-1].summary.usage.output_tokens > 0
    assert made_upstream == 6  # 4 before the kill (2 cut), only the 2 missing after


async def test_sigterm_sends_watchers_elsewhere_at_once_while_the_job_finishes(
    server: ServerProcess, upstream: FakeOpenAI
) -> None:
    upstream.config.latency_s = 2
    auth = (("x-api-key", KEY),)
    async with grpc.aio.insecure_channel(server.target) as channel:
        stub = pb_grpc.ImageServiceStub(channel)
        call = stub.GenerateImage(pb.GenerateImageRequest(prompt="watched"), metadata=auth)
        job_id = await accepted_job(call)
        watcher = stub.WatchJob(pb.WatchJobRequest(job_id=job_id), metadata=auth)
        assert await accepted_job(watcher) == job_id
        server.proc.send_signal(signal.SIGTERM)
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await rest(watcher)
        # The job's own call, with its upstream request running, gets the grace.
        assert [e.WhichOneof("event") for e in await rest(call)] == ["image", "summary"]
    assert caught.value.code() == grpc.StatusCode.UNAVAILABLE
    info = rich_error(caught.value)
    assert info["reason"] == "SERVER_SHUTTING_DOWN" and info["metadata"] == {"job_id": job_id}
    assert await asyncio.to_thread(server.proc.wait, 30) == 0
