"""Where spans go: nowhere without an exporter, and over OTLP/HTTP from the real server process,
flushed at shutdown."""

from __future__ import annotations

import asyncio
import secrets
import signal
from collections.abc import AsyncIterator
from pathlib import Path
from types import TracebackType

import grpc
import pytest
from aiohttp import web
from opentelemetry import trace
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)
from opentelemetry.proto.trace.v1 import trace_pb2
from visionstudio.image.v1 import image_service_pb2 as pb
from visionstudio.image.v1 import image_service_pb2_grpc as pb_grpc
from visionstudio.server.observability import tracing

from tests.fake_openai import FakeOpenAI
from tests.support.harness import AUTH, Harness, collect
from tests.support.processes import KEY, ServerProcess
from tests.support.spans import GENERATE_RPC, MODEL, traceparent


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
    theirs = traceparent(secrets.randbits(128), secrets.randbits(64))
    metadata = (*AUTH, ("traceparent", theirs))
    await collect(
        harness.stub.GenerateImage(pb.GenerateImageRequest(prompt="a"), metadata=metadata)
    )
    assert upstream.requests[-1].headers["traceparent"] == theirs


class Collector:
    """An OTLP/HTTP trace receiver on loopback: `POST /v1/traces` with protobuf bodies."""

    def __init__(self) -> None:
        self.exports: list[ExportTraceServiceRequest] = []
        self._runner: web.AppRunner | None = None
        self.url = ""

    async def __aenter__(self) -> Collector:
        app = web.Application()
        app.router.add_post("/v1/traces", self._traces)
        self._runner = web.AppRunner(app)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", 0).start()
        self.url = f"http://127.0.0.1:{self._runner.addresses[0][1]}"
        return self

    async def __aexit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
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
    async with Collector() as receiver:
        yield receiver


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
        metadata = (("x-api-key", KEY), ("traceparent", traceparent(caller_trace, 1)))
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
