"""Metrics, request ids and structured logs."""

from __future__ import annotations

import gc
import json
import logging

import aiohttp
import grpc
import pytest
from visionstudio.image.v1 import image_service_pb2 as pb
from visionstudio.server.api.auth import key_id
from visionstudio.server.observability import logs

from tests.fake_openai import Failure, FakeOpenAI
from tests.support.harness import AUTH, Harness, collect


def _value(harness: Harness, name: str, **labels: str) -> float:
    value = harness.metrics.registry.get_sample_value(name, labels)
    return value or 0.0


async def test_calls_images_upstream_requests_and_retries_are_counted(
    harness: Harness, upstream: FakeOpenAI
) -> None:
    upstream.config.fail_next.append(Failure(500, {"message": "boom", "type": "server_error"}))
    await collect(
        harness.stub.GenerateImage(
            pb.GenerateImageRequest(prompt="a", number_of_images=2), metadata=AUTH
        )
    )
    calls = {"surface": "grpc", "method": "GenerateImage"}
    assert _value(harness, "visionstudio_calls_total", code="OK", **calls) == 1
    assert _value(harness, "visionstudio_call_duration_seconds_count", **calls) == 1
    assert _value(harness, "visionstudio_images_total", operation="generate") == 2
    upstream_requests = "visionstudio_upstream_requests_total"
    assert _value(harness, upstream_requests, outcome="ok", deployment="default") == 2
    failed = _value(
        harness, upstream_requests, outcome="UPSTREAM_UNAVAILABLE", deployment="default"
    )
    assert failed == 1
    retries = _value(harness, "visionstudio_upstream_retries_total", reason="UPSTREAM_UNAVAILABLE")
    assert retries == 1
    # Usage is not labelled by anything derived from the key alone (#15): one series.
    assert _value(harness, "visionstudio_provider_tokens_total", kind="output", key="all") > 0
    assert key_id(AUTH[0][1]).encode() not in harness.metrics.render()
    assert _value(harness, "visionstudio_upstream_in_flight") == 0


async def test_refused_calls_are_counted_by_code(harness: Harness) -> None:
    with pytest.raises(grpc.aio.AioRpcError):
        await collect(harness.stub.GenerateImage(pb.GenerateImageRequest(prompt="")))
    calls = {"surface": "grpc", "method": "GenerateImage"}
    assert _value(harness, "visionstudio_calls_total", code="UNAUTHENTICATED", **calls) == 1


async def test_request_ids_are_accepted_and_returned(harness: Harness) -> None:
    mine = (*AUTH, ("x-request-id", "trace-123"))
    call = harness.stub.GenerateImage(pb.GenerateImageRequest(prompt="a"), metadata=mine)
    assert dict(await call.initial_metadata())["x-request-id"] == "trace-123"
    await collect(call)
    bad = (*AUTH, ("x-request-id", "spaces are not accepted"))
    call = harness.stub.GenerateImage(pb.GenerateImageRequest(prompt="a"), metadata=bad)
    returned = dict(await call.initial_metadata())["x-request-id"]
    assert isinstance(returned, str) and len(returned) == 32
    await collect(call)


def test_logs_are_one_json_object_per_line_with_ids(capsys: pytest.CaptureFixture[str]) -> None:
    root = logging.getLogger()
    saved = root.handlers[:], root.level
    try:
        logs.configure("INFO", "json")
        logs.request_id.set("req-1")
        logs.job_id.set("job-1")
        logging.getLogger("visionstudio.test").info("image stored", extra={"index": 3})
    finally:
        root.handlers[:], level = saved
        root.setLevel(level)
        logs.request_id.set(None)
        logs.job_id.set(None)
    line = capsys.readouterr().err.strip().splitlines()[-1]
    record = json.loads(line)
    assert record["message"] == "image stored" and record["index"] == 3
    assert (record["request_id"], record["job_id"], record["level"]) == ("req-1", "job-1", "INFO")


async def test_http_requests_carry_request_ids_too(harness: Harness) -> None:
    url = f"http://127.0.0.1:{harness.service.http_port}/healthz"
    async with aiohttp.ClientSession() as http:
        async with http.get(url, headers={"X-Request-Id": "web-7"}) as resp:
            assert resp.headers["x-request-id"] == "web-7"
        async with http.get(url) as resp:
            assert len(resp.headers["x-request-id"]) == 32


def test_text_logs_keep_the_structured_fields(capsys: pytest.CaptureFixture[str]) -> None:
    logs.configure("info", "text")
    token = logs.job_id.set("job-42")
    try:
        logging.getLogger("visionstudio.test").info(
            "call done", extra={"method": "/x.Y/Z", "code": "OK", "ms": 12, "status": "succeeded"}
        )
    finally:
        logs.job_id.reset(token)
    line = capsys.readouterr().err.strip()
    assert line.endswith("call done method=/x.Y/Z code=OK ms=12 status=succeeded job_id=job-42")


async def test_garbage_collector_passes_are_timed_by_generation(harness: Harness) -> None:
    before = _value(harness, "visionstudio_gc_pause_seconds_count", generation="2")
    freed = _value(harness, "visionstudio_gc_collected_objects_total", generation="2")
    cycle: list[object] = []
    cycle.append(cycle)
    del cycle
    gc.collect()
    assert _value(harness, "visionstudio_gc_pause_seconds_count", generation="2") == before + 1
    assert _value(harness, "visionstudio_gc_pause_seconds_sum", generation="2") > 0
    assert _value(harness, "visionstudio_gc_collected_objects_total", generation="2") >= freed + 1
