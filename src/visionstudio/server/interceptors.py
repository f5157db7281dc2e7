"""The one place where callers are authenticated and errors become gRPC statuses."""

from __future__ import annotations

import contextvars
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import grpc

from visionstudio.server.auth import API_KEY_HEADER, ApiKeys
from visionstudio.server.errors import Internal, ServiceError
from visionstudio.server.status import to_grpc_status

log = logging.getLogger(__name__)

# The authenticated caller's key id, for handlers (set per call by the interceptor).
current_caller: contextvars.ContextVar[str] = contextvars.ContextVar("current_caller")

# Generic tooling (health probes, grpcurl's reflection) works without a key.
OPEN_SERVICES = ("/grpc.health.v1.Health/", "/grpc.reflection.")


def _api_key(context: grpc.aio.ServicerContext[Any, Any]) -> str | None:
    for key, value in context.invocation_metadata() or ():
        if key == API_KEY_HEADER:
            return value if isinstance(value, str) else value.decode()
    return None


class ServiceInterceptor(grpc.aio.ServerInterceptor):
    def __init__(self, keys: ApiKeys) -> None:
        self._keys = keys

    async def intercept_service(
        self,
        continuation: Callable[
            [grpc.HandlerCallDetails], Awaitable[grpc.RpcMethodHandler[Any, Any] | None]
        ],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler[Any, Any] | None:
        handler = await continuation(handler_call_details)
        if handler is None or handler_call_details.method.startswith(OPEN_SERVICES):
            return handler
        if handler.unary_stream is None:
            # Every ImageService RPC streams; any other shape would slip past authentication.
            raise RuntimeError(f"{handler_call_details.method} is not server-streaming")
        return grpc.unary_stream_rpc_method_handler(
            self._wrap(handler.unary_stream),
            request_deserializer=handler.request_deserializer,
            response_serializer=handler.response_serializer,
        )

    def _wrap(self, behavior: Callable[..., Any]) -> Callable[..., AsyncIterator[Any]]:
        async def wrapped(
            request: Any, context: grpc.aio.ServicerContext[Any, Any]
        ) -> AsyncIterator[Any]:
            try:
                current_caller.set(self._keys.authenticate(_api_key(context)))
                async for response in behavior(request, context):
                    yield response
            except ServiceError as error:
                await context.abort_with_status(to_grpc_status(error))
            except Exception:
                log.exception("unhandled error in %s", context.invocation_metadata())
                await context.abort_with_status(to_grpc_status(Internal("internal error")))

        return wrapped
