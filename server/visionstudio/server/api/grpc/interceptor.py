"""The one place where callers are authenticated and errors become gRPC statuses."""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import logging
import time
import traceback
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import grpc
from opentelemetry import context as otel_context
from opentelemetry import trace
from visionstudio.server.api.auth import API_KEY_HEADER, ApiKeys
from visionstudio.server.api.byte_budget import Reservation
from visionstudio.server.api.grpc.receiving import MessageReceiver, tolerant
from visionstudio.server.api.status import to_grpc_status
from visionstudio.server.errors import (
    Internal,
    ServiceError,
    Unauthenticated,
)
from visionstudio.server.observability import logs, tracing
from visionstudio.server.observability.metrics import Metrics

log = logging.getLogger(__name__)
tracer = trace.get_tracer(__name__)

# The authenticated caller's key id, for handlers (set per call by the interceptor).
current_caller: contextvars.ContextVar[str] = contextvars.ContextVar("current_caller")

# Generic tooling (health probes, grpcurl's reflection) works without a key.
OPEN_SERVICES = ("/grpc.health.v1.Health/", "/grpc.reflection.")


def _metadata(context: grpc.aio.ServicerContext[Any, Any], name: str) -> str | None:
    for key, value in context.invocation_metadata() or ():
        if key == name:
            return value if isinstance(value, str) else value.decode()
    return None


class ServiceInterceptor(grpc.aio.ServerInterceptor):
    def __init__(self, keys: ApiKeys, metrics: Metrics, receiving: MessageReceiver) -> None:
        self._keys = keys
        self._metrics = metrics
        self._receiving = receiving

    async def intercept_service(
        self,
        continuation: Callable[
            [grpc.HandlerCallDetails], Awaitable[grpc.RpcMethodHandler[Any, Any] | None]
        ],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler[Any, Any] | None:
        handler = await continuation(handler_call_details)
        method = handler_call_details.method
        if handler is None or method.startswith(OPEN_SERVICES):
            return handler
        presented = dict(handler_call_details.invocation_metadata or ()).get(API_KEY_HEADER)
        try:
            self._keys.authenticate(presented if isinstance(presented, str | None) else None)
        except Unauthenticated as error:
            return self._refusal(method, error)
        # Served as streaming-request handlers: the message is asked for (and HTTP/2 flow
        # control lets it in) only once the budget has room for it.
        deserializer = tolerant(handler.request_deserializer)
        if handler.unary_stream is not None:
            return grpc.stream_stream_rpc_method_handler(
                self._wrap_stream(method, handler.unary_stream),
                request_deserializer=deserializer,
                response_serializer=handler.response_serializer,
            )
        if handler.unary_unary is not None:
            return grpc.stream_unary_rpc_method_handler(
                self._wrap_unary(method, handler.unary_unary),
                request_deserializer=deserializer,
                response_serializer=handler.response_serializer,
            )
        # A client-streaming shape would slip past authentication: refuse to serve it at all.
        raise RuntimeError(f"{handler_call_details.method}: unsupported RPC shape")

    def _refusal(self, rpc: str, error: Unauthenticated) -> grpc.RpcMethodHandler[Any, Any]:
        """Refuses a call without a valid key from its headers alone. A streaming-request
        handler never asks for the message, so HTTP/2 flow control keeps the caller from
        sending more than a window of it (a unary handler would receive it all first)."""
        method = rpc.rsplit("/", 1)[-1]

        async def refuse(requests: Any, context: grpc.aio.ServicerContext[Any, Any]) -> None:
            self._metrics.calls.labels("grpc", method, error.code.name).inc()
            log.info("call refused", extra={"method": method, "code": error.code.name, "ms": 0})
            await context.abort_with_status(to_grpc_status(error))

        return grpc.stream_stream_rpc_method_handler(refuse)

    def _wrap_stream(
        self, rpc: str, behavior: Callable[..., Any]
    ) -> Callable[..., AsyncIterator[Any]]:
        async def wrapped(
            requests: Any, context: grpc.aio.ServicerContext[Any, Any]
        ) -> AsyncIterator[Any]:
            async with self._guard(rpc, context):
                responses, reservation = await self._started(behavior, context)
                try:
                    async for response in responses:
                        await reservation.release()
                        yield response
                finally:
                    await reservation.release()

        return wrapped

    def _wrap_unary(self, rpc: str, behavior: Callable[..., Any]) -> Callable[..., Awaitable[Any]]:
        async def wrapped(requests: Any, context: grpc.aio.ServicerContext[Any, Any]) -> Any:
            async with self._guard(rpc, context):
                answer, reservation = await self._started(behavior, context)
                try:
                    return await answer
                finally:
                    await reservation.release()

        return wrapped

    async def _started(
        self, behavior: Callable[..., Any], context: grpc.aio.ServicerContext[Any, Any]
    ) -> tuple[Any, Reservation]:
        """The handler called with the received message. Only the handler holds the message:
        an error's traceback keeps the caller's frame, and such cycles live until the
        collector runs (four refused 62 MB calls kept 350 MB so)."""
        request, reservation = await self._receiving.receive(context, current_caller.get())
        return behavior(request, context), reservation

    @contextlib.asynccontextmanager
    async def _guard(
        self, rpc: str, context: grpc.aio.ServicerContext[Any, Any]
    ) -> AsyncIterator[None]:
        """Request id, authentication, error -> status, metrics, the call's log line and span.

        `rpc` is the full name, `/package.Service/Method`."""
        started = time.monotonic()
        service, method = rpc.removeprefix("/").rsplit("/", 1)
        rid = logs.accept_request_id(_metadata(context, logs.REQUEST_ID_HEADER))
        logs.request_id.set(rid)
        code = grpc.StatusCode.OK
        message: str | None = None
        span = tracer.start_span(
            f"{service}/{method}",
            # A caller's W3C traceparent makes this call part of its trace.
            context=tracing.extract(context.invocation_metadata()),
            kind=trace.SpanKind.SERVER,
            attributes={
                "rpc.system": "grpc",
                "rpc.service": service,
                "rpc.method": method,
                "visionstudio.request_id": rid,
            },
        )
        # Made current for the rest of this call's task and never detached: a cancelled stream
        # is finalised from another context, where detaching fails; the task's context ends
        # with the call anyway.
        otel_context.attach(trace.set_span_in_context(span))
        try:
            await context.send_initial_metadata(((logs.REQUEST_ID_HEADER, rid),))
            current_caller.set(self._keys.authenticate(_metadata(context, API_KEY_HEADER)))
            yield
        except ServiceError as error:
            code, message = error.code, error.message
            span.set_attribute("error.type", error.reason)
            # The handler's frames, and the message they hold, go with the call.
            traceback.clear_frames(error.__traceback__)
            await context.abort_with_status(to_grpc_status(error))
        except asyncio.CancelledError:
            code = grpc.StatusCode.CANCELLED
            raise
        except Exception as exc:
            code = grpc.StatusCode.INTERNAL
            span.record_exception(exc)
            log.exception("unhandled error in %s", method)
            await context.abort_with_status(to_grpc_status(Internal("internal error")))
        finally:
            seconds = time.monotonic() - started
            tracing.grpc_status(span, code, message)
            span.end()
            self._metrics.calls.labels("grpc", method, code.name).inc()
            self._metrics.call_seconds.labels("grpc", method).observe(seconds)
            log.info(
                "call finished",
                extra={"method": method, "code": code.name, "ms": round(seconds * 1000)},
            )
