"""OpenTelemetry tracing: the span tree of a call, trace context in and out, the OTLP export of
the real server process, and nothing at all when no exporter is configured."""

from __future__ import annotations

import asyncio
import secrets
import signal
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import aiohttp
import grpc
import pytest
from aiohttp import web
from opentelemetry import trace
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)
from opentelemetry.proto.trace.v1 import trace_pb2
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from visionstudio.image.v1 import image_service_pb2 as pb
from visionstudio.image.v1 import image_service_pb2_grpc as pb_grpc
from visionstudio.server.api.http import models as json_api
from visionstudio.server.observability import tracing

from tests.fake_openai import Failure, FakeOpenAI
from tests.support.harness import API_KEY, AUTH, Harness, collect, eventually
from tests.support.processes import KEY, ServerProcess

GENERATE_RPC = "visionstudio.image.v1.ImageService/GenerateImage"
GENERATE_ROUTE = f"{json_api.API_PREFIX}/image/generation/generate-image"
MODEL = "gpt-image-2.5-flare"


class Spans:
    """The spans a test's calls produced, by name and by parent."""

    def __init__(self, exporter: InMemorySpanExporter) -> None:
        self._exporter = exporter

    @property
    def all(self) -> tuple[ReadableSpan, ...]:
        return self._exporter.get_finished_spans()

    def named(self, name: str) -> list[ReadableSpan]:
        return [s for s in self.all if s.name == name]

    def one(self, name: str) -> ReadableSpan:
        [span] = self.named(name)
        return span

    async def wait_for(self, name: str) -> ReadableSpan:
        # The server ends its call's span as it sends the status, a moment after the last event.
        assert await eventually(lambda: len(self.named(name)) == 1), [s.name for s in self.all]
        return self.one(name)

    def children(self, parent: ReadableSpan, name: str | None = None) -> list[ReadableSpan]:
        span_id = _context(parent).span_id
        return [
            s
            for s in self.all
            if s.parent is not None
            and s.parent.span_id == span_id
            and (name is None or s.name == name)
        ]


def _context(span: ReadableSpan) -> trace.SpanContext:
    context = span.get_span_context()
    assert context is not None
    return context


def _int(span: ReadableSpan, key: str) -> int:
    value = (span.attributes or {})[key]
    assert isinstance(value, int)
    return value


def _traceparent(trace_id: int, span_id: int) -> str:
    return f"00-{trace_id:032x}-{span_id:016x}-01"


@pytest.fixture
def spans() -> Iterator[Spans]:
    """Every span of the test in memory; tracing is back to the no-op afterwards."""
    exporter = InMemorySpanExporter()
    provider = TracerProvider(shutdown_on_exit=False)
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracing.configure(provider)
    try:
        yield Spans(exporter)
    finally:
        tracing.shutdown()


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
    assert sorted(_int(s, "visionstudio.image.index") for s in images) == [0, 1]

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
        assert _int(attempt, "gen_ai.usage.output_tokens") > 0

    # One trace throughout, continued by each upstream request from its own attempt's span.
    trace_id = _context(rpc).trace_id
    assert {_context(s).trace_id for s in spans.all} == {trace_id}
    # version-trace id-parent id-flags: the parent is the attempt's span.
    sent = sorted(tuple(r.headers["traceparent"].split("-")[1:3]) for r in upstream.requests)
    assert sent == sorted((f"{trace_id:032x}", f"{_context(a).span_id:016x}") for a in attempts)


async def test_a_callers_traceparent_is_continued(
    spans: Spans, harness: Harness, upstream: FakeOpenAI
) -> None:
    caller_trace, caller_span = secrets.randbits(128), secrets.randbits(64)
    metadata = (
        *AUTH,
        ("traceparent", _traceparent(caller_trace, caller_span)),
        ("baggage", "user.id=12345"),
    )
    await collect(
        harness.stub.GenerateImage(pb.GenerateImageRequest(prompt="a"), metadata=metadata)
    )
    rpc = await spans.wait_for(GENERATE_RPC)
    assert rpc.parent is not None and rpc.parent.is_remote
    assert (rpc.parent.trace_id, rpc.parent.span_id) == (caller_trace, caller_span)
    assert {_context(s).trace_id for s in spans.all} == {caller_trace}
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
        key=lambda s: _int(s, "http.request.resend_count"),
    )
    assert (first.attributes or {})["error.type"] == "UPSTREAM_UNAVAILABLE"
    assert first.status.status_code is trace.StatusCode.ERROR
    assert _int(retry, "http.request.resend_count") == 1
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


async def test_a_json_request_is_one_server_span_continuing_the_callers_trace(
    spans: Spans, harness: Harness
) -> None:
    caller_trace, caller_span = secrets.randbits(128), secrets.randbits(64)
    url = f"http://127.0.0.1:{harness.service.http_port}{GENERATE_ROUTE}"
    headers = {"X-API-Key": API_KEY, "traceparent": _traceparent(caller_trace, caller_span)}
    async with aiohttp.ClientSession() as http:
        async with http.post(url, json={"prompt": "a fox"}, headers=headers) as resp:
            assert resp.status == 200
        async with http.post(url, json={"prompt": "a fox"}) as resp:
            assert resp.status == 401
    ok, refused = spans.named(f"POST {GENERATE_ROUTE}")
    assert ok.kind is trace.SpanKind.SERVER
    assert ok.parent is not None and ok.parent.span_id == caller_span
    assert _context(ok).trace_id == caller_trace
    attributes = ok.attributes or {}
    assert attributes["http.request.method"] == "POST"
    assert attributes["http.route"] == GENERATE_ROUTE
    assert attributes["http.response.status_code"] == 200
    [job] = spans.children(ok, "visionstudio.job")
    assert len(spans.children(job, "visionstudio.image")) == 1
    assert (refused.attributes or {})["http.response.status_code"] == 401
    assert refused.status.status_code is trace.StatusCode.UNSET


async def test_without_an_exporter_tracing_is_a_no_op(
    harness: Harness, upstream: FakeOpenAI, monkeypatch: pytest.MonkeyPatch
) -> None:
    for variable in tracing.ENDPOINT_VARIABLES:
        monkeypatch.delenv(variable, raising=False)
    assert tracing.configure_from_environment() is None
    assert not trace.get_tracer(__name__).start_span("probe").is_recording()

    await collect(harness.stub.GenerateImage(pb.GenerateImageRequest(prompt="a"), metadata=AUTH))
    assert "traceparent" not in upstream.requests[-1].headers
    # The API passes a caller's context on unchanged, so the upstream still sees its trace.
    theirs = _traceparent(secrets.randbits(128), secrets.randbits(64))
    metadata = (*AUTH, ("traceparent", theirs))
    await collect(
        harness.stub.GenerateImage(pb.GenerateImageRequest(prompt="a"), metadata=metadata)
    )
    assert upstream.requests[-1].headers["traceparent"] == theirs


# --- the server process exporting over OTLP/HTTP ---------------------------------------------


class Collector:
    """An OTLP/HTTP trace receiver on loopback: `POST /v1/traces` with protobuf bodies."""

    def __init__(self) -> None:
        self.exports: list[ExportTraceServiceRequest] = []
        self._runner: web.AppRunner | None = None
        self.url = ""

    async def start(self) -> None:
        app = web.Application()
        app.router.add_post("/v1/traces", self._traces)
        self._runner = web.AppRunner(app)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", 0).start()
        self.url = f"http://127.0.0.1:{self._runner.addresses[0][1]}"

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    async def _traces(self, request: web.Request) -> web.Response:
        assert request.content_type == "application/x-protobuf"
        self.exports.append(ExportTraceServiceRequest.FromString(await request.read()))
        answer = ExportTraceServiceResponse().SerializeToString()
        return web.Response(body=answer, content_type="application/x-protobuf")

    def spans(self) -> list[tuple[str, trace_pb2.Span]]:
        """(service.name, span) of everything received."""
        found = []
        for export in self.exports:
            for resource_spans in export.resource_spans:
                resource = {a.key: a.value.string_value for a in resource_spans.resource.attributes}
                for scope_spans in resource_spans.scope_spans:
                    found += [(resource["service.name"], span) for span in scope_spans.spans]
        return found


@pytest.fixture
async def collector() -> AsyncIterator[Collector]:
    receiver = Collector()
    await receiver.start()
    try:
        yield receiver
    finally:
        await receiver.stop()


async def test_the_server_exports_its_spans_over_otlp_and_flushes_them_at_shutdown(
    collector: Collector, upstream: FakeOpenAI, tmp_path: Path
) -> None:
    # A batch delay far longer than the test: whatever arrives was sent by the flush at stop.
    server = ServerProcess(
        upstream.base_url,
        tmp_path,
        OTEL_EXPORTER_OTLP_ENDPOINT=collector.url,
        OTEL_BSP_SCHEDULE_DELAY="600000",
    )
    try:
        await server.ready()
        caller_trace = secrets.randbits(128)
        metadata = (("x-api-key", KEY), ("traceparent", _traceparent(caller_trace, 1)))
        async with grpc.aio.insecure_channel(server.target) as channel:
            stub = pb_grpc.ImageServiceStub(channel)
            await collect(
                stub.GenerateImage(pb.GenerateImageRequest(prompt="a"), metadata=metadata)
            )
        await asyncio.sleep(0.2)
        assert collector.exports == []
        server.proc.send_signal(signal.SIGTERM)
        assert await asyncio.to_thread(server.proc.wait, 30) == 0
    finally:
        server.kill()
    received = collector.spans()
    assert {service for service, _ in received} == {"visionstudio"}
    names = sorted(span.name for _, span in received)
    assert names == sorted(
        [
            GENERATE_RPC,
            "visionstudio.prep",
            "visionstudio.job",
            "visionstudio.image",
            f"images.generate {MODEL}",
            "visionstudio.store",
        ]
    )
    assert {int.from_bytes(span.trace_id, "big") for _, span in received} == {caller_trace}
    kinds = {span.name: span.kind for _, span in received}
    assert kinds[GENERATE_RPC] == trace_pb2.Span.SPAN_KIND_SERVER
    assert kinds[f"images.generate {MODEL}"] == trace_pb2.Span.SPAN_KIND_CLIENT
