"""Tracing a gRPC call: one span tree from the RPC to each upstream request, a caller's trace
continued, and failures marked in the spans they happened in."""

from __future__ import annotations

import secrets

import grpc
import pytest
from opentelemetry import trace
from opentelemetry.sdk.trace import ReadableSpan
from visionstudio.image.v1 import image_service_pb2 as pb

from tests.fake_openai import Failure, FakeOpenAI
from tests.support.harness import AUTH, Harness, collect, eventually
from tests.support.spans import (
    GENERATE_RPC,
    MODEL,
    Spans,
    int_attribute,
    span_context,
    traceparent,
)


async def test_a_call_is_one_trace_from_the_rpc_to_each_upstream_request(
    spans: Spans, harness: Harness, upstream: FakeOpenAI
) -> None:
    events = await collect(
        harness.stub.GenerateImage(
            pb.GenerateImageRequest(prompt="a fox", number_of_images=2),
            metadata=(*AUTH, ("x-request-id", "req-42")),
        )
    )
    job_id = events[0].accepted.job_id
    rpc = await spans.wait_for(GENERATE_RPC)
    assert rpc.parent is None and rpc.kind is trace.SpanKind.SERVER
    assert dict(rpc.attributes or {}) == {
        "rpc.system": "grpc",
        "rpc.service": "visionstudio.image.v1.ImageService",
        "rpc.method": "GenerateImage",
        "rpc.grpc.status_code": 0,
        "visionstudio.request_id": "req-42",
    }
    assert rpc.status.status_code is trace.StatusCode.UNSET
    assert [s.name for s in spans.children(rpc)] == ["visionstudio.prep", "visionstudio.job"]

    [job] = spans.children(rpc, "visionstudio.job")
    assert job.kind is trace.SpanKind.INTERNAL
    assert dict(job.attributes or {}) == {
        "visionstudio.job_id": job_id,
        "visionstudio.operation": "generate",
        "visionstudio.images": 2,
        "visionstudio.job_status": "succeeded",
        "visionstudio.images_delivered": 2,
    }
    images = spans.children(job, "visionstudio.image")
    assert sorted(int_attribute(s, "visionstudio.image.index") for s in images) == [0, 1]

    attempts: list[ReadableSpan] = []
    for image in images:
        [attempt] = spans.children(image, f"images.generate {MODEL}")
        [_] = spans.children(image, "visionstudio.store")
        attempts.append(attempt)
        assert attempt.kind is trace.SpanKind.CLIENT
        attributes = attempt.attributes or {}
        assert attributes["gen_ai.system"] == "openai"
        assert attributes["gen_ai.request.model"] == MODEL
        assert attributes["server.address"] == "127.0.0.1"
        assert attributes["http.request.resend_count"] == 0
        assert int_attribute(attempt, "gen_ai.usage.output_tokens") > 0

    # One trace throughout, continued by each upstream request from its own attempt's span.
    trace_id = span_context(rpc).trace_id
    assert {span_context(s).trace_id for s in spans.all} == {trace_id}
    # version-trace id-parent id-flags: the parent is the attempt's span.
    sent = sorted(tuple(r.headers["traceparent"].split("-")[1:3]) for r in upstream.requests)
    assert sent == sorted((f"{trace_id:032x}", f"{span_context(a).span_id:016x}") for a in attempts)


async def test_a_callers_traceparent_is_continued(
    spans: Spans, harness: Harness, upstream: FakeOpenAI
) -> None:
    caller_trace, caller_span = secrets.randbits(128), secrets.randbits(64)
    metadata = (
        *AUTH,
        ("traceparent", traceparent(caller_trace, caller_span)),
        ("baggage", "user.id=12345"),
    )
    await collect(
        harness.stub.GenerateImage(pb.GenerateImageRequest(prompt="a"), metadata=metadata)
    )
    rpc = await spans.wait_for(GENERATE_RPC)
    assert rpc.parent is not None and rpc.parent.is_remote
    assert (rpc.parent.trace_id, rpc.parent.span_id) == (caller_trace, caller_span)
    assert {span_context(s).trace_id for s in spans.all} == {caller_trace}
    # The trace goes on upstream; what the caller put in its baggage does not.
    [request] = upstream.requests
    assert request.headers["traceparent"].split("-")[1] == f"{caller_trace:032x}"
    assert "baggage" not in request.headers


async def test_failures_mark_the_spans_they_happened_in(
    spans: Spans, harness: Harness, upstream: FakeOpenAI
) -> None:
    upstream.config.fail_next.append(Failure(500, {"message": "boom", "type": "server_error"}))
    await collect(harness.stub.GenerateImage(pb.GenerateImageRequest(prompt="a"), metadata=AUTH))
    first, retry = sorted(
        spans.named(f"images.generate {MODEL}"),
        key=lambda s: int_attribute(s, "http.request.resend_count"),
    )
    assert (first.attributes or {})["error.type"] == "UPSTREAM_UNAVAILABLE"
    assert first.status.status_code is trace.StatusCode.ERROR
    assert int_attribute(retry, "http.request.resend_count") == 1
    assert "error.type" not in (retry.attributes or {})
    assert spans.one("visionstudio.job").status.status_code is trace.StatusCode.UNSET

    # A refused request is the caller's doing: the code is recorded, the status stays unset.
    with pytest.raises(grpc.aio.AioRpcError):
        await collect(harness.stub.GenerateImage(pb.GenerateImageRequest(prompt=""), metadata=AUTH))
    assert await eventually(lambda: len(spans.named(GENERATE_RPC)) == 2)
    refused = spans.named(GENERATE_RPC)[-1]
    assert (refused.attributes or {})[
        "rpc.grpc.status_code"
    ] == grpc.StatusCode.INVALID_ARGUMENT.value[0]
    assert (refused.attributes or {})["error.type"] == "INVALID_ARGUMENT"
    assert refused.status.status_code is trace.StatusCode.UNSET

    # A job whose image failed for good is an error of the job and of the call.
    upstream.config.fail_next.append(
        Failure(404, {"message": "no", "type": "invalid_request_error"})
    )
    with pytest.raises(grpc.aio.AioRpcError):
        await collect(
            harness.stub.GenerateImage(pb.GenerateImageRequest(prompt="a"), metadata=AUTH)
        )
    assert await eventually(lambda: len(spans.named(GENERATE_RPC)) == 3)
    failed_job = spans.named("visionstudio.job")[-1]
    assert (failed_job.attributes or {})["visionstudio.job_status"] == "failed"
    assert failed_job.status.status_code is trace.StatusCode.ERROR
    assert spans.named(GENERATE_RPC)[-1].status.status_code is trace.StatusCode.ERROR
