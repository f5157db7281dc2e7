"""Tracing into memory for the tests that read spans."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from visionstudio.server.observability import tracing

from tests.support.spans import Spans


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
