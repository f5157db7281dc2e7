"""OpenTelemetry tracing: off unless the standard OTLP environment names an endpoint.

Instrumented modules use the API directly (`trace.get_tracer(__name__)`). Until `configure`
runs, that is the API's no-op tracer: spans cost nothing and record nothing (the caller's
trace context still passes through to the upstream, as the API propagates it unchanged).

`configure_from_environment` (called by `visionstudio-server`) exports over OTLP/HTTP protobuf
with a batch processor when `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT` or `OTEL_EXPORTER_OTLP_ENDPOINT`
is set; every other `OTEL_*` setting (service name, sampler, batch sizes, headers, timeouts)
is the SDK's own. `shutdown` flushes what is still queued.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from importlib import metadata
from typing import TYPE_CHECKING, Any

import grpc
from opentelemetry import propagate, trace
from opentelemetry.context import Context
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import SERVICE_NAME, SERVICE_VERSION, Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from opentelemetry.trace import Span, StatusCode
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator
from opentelemetry.util.types import Attributes

if TYPE_CHECKING:
    # The API's own type for what start_as_current_span returns (a context manager that also
    # decorates functions); only named here so the override below keeps its exact type.
    from opentelemetry.util._decorator import _AgnosticContextManager

DEFAULT_SERVICE_NAME = "visionstudio"
ENDPOINT_VARIABLES = ("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "OTEL_EXPORTER_OTLP_ENDPOINT")
_TRACE_CONTEXT = TraceContextTextMapPropagator()

# gRPC codes that mean the server failed (OTel semantic conventions for gRPC server spans);
# the others are the caller's doing and leave the span's status unset.
_GRPC_SERVER_ERRORS = frozenset(
    {
        grpc.StatusCode.UNKNOWN,
        grpc.StatusCode.DEADLINE_EXCEEDED,
        grpc.StatusCode.UNIMPLEMENTED,
        grpc.StatusCode.INTERNAL,
        grpc.StatusCode.UNAVAILABLE,
        grpc.StatusCode.DATA_LOSS,
    }
)


class _Switch(trace.TracerProvider):
    """The global provider once tracing is configured. It forwards to the provider that
    `configure` installed last: the API lets the global be set only once per process, and
    tests install their own provider and put the no-op back afterwards."""

    def __init__(self) -> None:
        self.target: trace.TracerProvider = trace.NoOpTracerProvider()

    def get_tracer(
        self,
        instrumenting_module_name: str,
        instrumenting_library_version: str | None = None,
        schema_url: str | None = None,
        attributes: Attributes = None,
    ) -> trace.Tracer:
        scope = (instrumenting_module_name, instrumenting_library_version, schema_url, attributes)
        return _SwitchTracer(self, scope)


class _SwitchTracer(trace.Tracer):
    def __init__(
        self, switch: _Switch, scope: tuple[str, str | None, str | None, Attributes]
    ) -> None:
        self._switch = switch
        self._scope = scope
        self._provider: trace.TracerProvider | None = None
        self._tracer: trace.Tracer = trace.NoOpTracer()

    def _current(self) -> trace.Tracer:
        provider = self._switch.target
        if provider is not self._provider:
            self._tracer, self._provider = provider.get_tracer(*self._scope), provider
        return self._tracer

    def start_span(self, *args: Any, **kwargs: Any) -> Span:
        return self._current().start_span(*args, **kwargs)

    def start_as_current_span(self, *args: Any, **kwargs: Any) -> _AgnosticContextManager[Span]:
        return self._current().start_as_current_span(*args, **kwargs)


_SWITCH = _Switch()


def configure(provider: TracerProvider) -> None:
    """Sends every span from now on to `provider` (tests pass one with an in-memory exporter)."""
    if trace.get_tracer_provider() is not _SWITCH:
        trace.set_tracer_provider(_SWITCH)
    _SWITCH.target = provider


def configure_from_environment() -> str | None:
    """Exports spans over OTLP/HTTP when the standard variables name an endpoint; returns it
    (None: tracing stays off)."""
    endpoint = next((os.environ[v] for v in ENDPOINT_VARIABLES if os.environ.get(v)), None)
    if endpoint is None or os.environ.get("OTEL_SDK_DISABLED", "").strip().lower() == "true":
        return None
    resource = Resource.create({SERVICE_VERSION: metadata.version("visionstudio")})
    if str(resource.attributes.get(SERVICE_NAME)).startswith("unknown_service"):
        # Neither OTEL_SERVICE_NAME nor OTEL_RESOURCE_ATTRIBUTES named the service.
        resource = resource.merge(Resource({SERVICE_NAME: DEFAULT_SERVICE_NAME}))
    # The sampler (OTEL_TRACES_SAMPLER/_ARG), exporter and batching read their own variables.
    provider = TracerProvider(resource=resource)
    provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
    configure(provider)
    return endpoint


def shutdown() -> None:
    """Flushes the spans still queued and turns tracing off again."""
    provider, _SWITCH.target = _SWITCH.target, trace.NoOpTracerProvider()
    if isinstance(provider, TracerProvider):
        provider.shutdown()


def extract(carrier: Mapping[str, str] | Iterable[tuple[str, str | bytes]] | None) -> Context:
    """The caller's trace context (W3C `traceparent`) from HTTP headers or gRPC metadata."""
    if carrier is None or isinstance(carrier, Mapping):
        return propagate.extract(carrier or {})
    return propagate.extract({key: value for key, value in carrier if isinstance(value, str)})


def outgoing_headers() -> dict[str, str]:
    """`traceparent` (and `tracestate`) continuing the current trace in an upstream request.

    Only the W3C trace context: a caller's baggage stays inside and never reaches the third
    party the upstream is."""
    headers: dict[str, str] = {}
    _TRACE_CONTEXT.inject(headers)
    return headers


def grpc_status(span: Span, code: grpc.StatusCode, message: str | None = None) -> None:
    span.set_attribute("rpc.grpc.status_code", code.value[0])
    if code in _GRPC_SERVER_ERRORS:
        span.set_status(StatusCode.ERROR, message or code.name)


def http_status(span: Span, status: int, message: str | None = None) -> None:
    span.set_attribute("http.response.status_code", status)
    # As for gRPC: only the server's own failures (5xx) are errors of a server span.
    if status >= 500:
        span.set_status(StatusCode.ERROR, message)
