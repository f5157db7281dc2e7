"""The spans of a test's calls, read from an in-memory exporter, and trace context helpers."""

from __future__ import annotations

from opentelemetry import trace
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from visionstudio.server.api.http import models as http_models

from tests.support.harness import eventually

GENERATE_RPC = "visionstudio.image.v1.ImageService/GenerateImage"
GENERATE_ROUTE = f"{http_models.API_PREFIX}/image/generation/generate-image"
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
        span_id = span_context(parent).span_id
        return [
            s
            for s in self.all
            if s.parent is not None
            and s.parent.span_id == span_id
            and (name is None or s.name == name)
        ]


def span_context(span: ReadableSpan) -> trace.SpanContext:
    context = span.get_span_context()
    assert context is not None
    return context


def int_attribute(span: ReadableSpan, key: str) -> int:
    value = (span.attributes or {})[key]
    assert isinstance(value, int)
    return value


def traceparent(trace_id: int, span_id: int) -> str:
    return f"00-{trace_id:032x}-{span_id:016x}-01"
