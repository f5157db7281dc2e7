"""The HTTP surface's cross-cutting work, as aiohttp middleware: request ids, tracing, metrics,
authentication and the one place where errors become JSON error answers."""

from __future__ import annotations

import logging
import time

from aiohttp import web
from aiohttp.typedefs import Handler, Middleware
from opentelemetry import trace
from visionstudio.server.api.auth import API_KEY_HEADER, ApiKeys
from visionstudio.server.api.byte_budget import ByteBudget, Reservation
from visionstudio.server.api.http import bodies
from visionstudio.server.api.http.connections import ConnectionGuard
from visionstudio.server.api.http.envelope import error_response
from visionstudio.server.api.http.models import BODY
from visionstudio.server.errors import (
    Internal,
    InvalidArgument,
    MethodNotAllowed,
    NotFound,
    ServiceError,
)
from visionstudio.server.observability import logs, tracing
from visionstudio.server.observability.metrics import Metrics

log = logging.getLogger(__name__)
tracer = trace.get_tracer(__name__)

_CALLER = web.RequestKey("caller", str)
# Probes answer without a key; images may instead bring a signature (the handler checks it).
PUBLIC_ROUTES = frozenset({"/healthz", "/readyz"})


def _route(request: web.Request) -> str:
    """The route's pattern (bounded label values), or `unmatched`."""
    resource = request.match_info.route.resource
    return resource.canonical if resource is not None else "unmatched"


def caller_of(request: web.Request) -> str:
    """The authenticated caller's key id (KeyError when the request came without a key)."""
    return request[_CALLER]


@web.middleware
async def request_ids(request: web.Request, handler: Handler) -> web.StreamResponse:
    """The caller's X-Request-Id (or a new one) goes into every log line of the request."""
    logs.request_id.set(logs.accept_request_id(request.headers.get(logs.REQUEST_ID_HEADER)))
    return await handler(request)


async def echo_request_id(request: web.Request, response: web.StreamResponse) -> None:
    # Runs as headers go out, also for event streams prepared inside the handler.
    rid = logs.request_id.get()
    if rid is not None:
        response.headers[logs.REQUEST_ID_HEADER] = rid


def observed(metrics: Metrics) -> Middleware:
    """A SERVER span continuing the caller's trace, the call counted and timed, a log line."""

    @web.middleware
    async def observe(request: web.Request, handler: Handler) -> web.StreamResponse:
        route, started = _route(request), time.monotonic()
        status = 500
        with tracer.start_as_current_span(
            f"{request.method} {route}",
            context=tracing.extract(request.headers),
            kind=trace.SpanKind.SERVER,
            attributes={
                "http.request.method": request.method,
                "http.route": route,
                "url.path": request.path,
                "url.scheme": request.scheme,
            },
            # Set from the answer: a refused request (4xx) is no failure of the server.
            record_exception=False,
            set_status_on_exception=False,
        ) as span:
            try:
                response = await handler(request)
                status = response.status
                return response
            finally:
                seconds = time.monotonic() - started
                tracing.http_status(span, status)
                metrics.calls.labels("http", route, str(status)).inc()
                metrics.call_seconds.labels("http", route).observe(seconds)
                log.info(
                    "call finished",
                    extra={"method": route, "code": status, "ms": round(seconds * 1000)},
                )

    return observe


def _as_service_error(exc: web.HTTPException) -> ServiceError:
    """aiohttp's own refusals (no such route, wrong method) in the service's terms."""
    if exc.status == 405:
        return MethodNotAllowed(f"{exc.reason}: this route does not take that method")
    if exc.status == 404:
        return NotFound("no such route")
    return ServiceError(exc.reason, reason=exc.reason.upper().replace(" ", "_"))


@web.middleware
async def errors(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        return await handler(request)
    except ServiceError as error:
        return error_response(error)
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        return error_response(_as_service_error(exc), status=exc.status)
    except Exception:
        # Never a traceback to the caller: the details go to the log only.
        log.exception("unhandled error in %s %s", request.method, request.path)
        return error_response(Internal("internal error"))


def authenticated(keys: ApiKeys, *, key_optional: frozenset[str]) -> Middleware:
    """Every route but the probes needs `X-API-Key`, checked before the body is read (nobody
    unknown gets to upload 100 MB); on `key_optional` routes the handler decides."""

    @web.middleware
    async def authenticate(request: web.Request, handler: Handler) -> web.StreamResponse:
        route = _route(request)
        presented = request.headers.get(API_KEY_HEADER)
        # Unmatched: aiohttp's own 404 or 405, turned into the error envelope by `errors`.
        open_route = route in PUBLIC_ROUTES or route == "unmatched"
        if open_route or (route in key_optional and presented is None):
            return await handler(request)
        request[_CALLER] = keys.authenticate(presented)
        return await handler(request)

    return authenticate


def bounded_bodies(
    guard: ConnectionGuard, budget: ByteBudget, *, body_timeout_s: float, max_body: int
) -> Middleware:
    """Marks the connection as inside a request (the guard never evicts it), and receives the
    body here, under the byte budget and within `body_timeout_s` in all: a body trickled in a
    byte a second, or a hundred bodies at once, hold no memory the budget did not grant.
    Handlers then parse it with `bodies.parsed`, still under the budget. Runs after
    `authenticated`: no keyless body is ever received."""

    @web.middleware
    async def bounded(request: web.Request, handler: Handler) -> web.StreamResponse:
        guard.request_started(request.protocol)
        reservation: Reservation | None = None
        try:
            if request.body_exists:
                try:
                    reservation = await bodies.receive(
                        request, budget, timeout_s=body_timeout_s, limit=max_body
                    )
                except web.HTTPRequestEntityTooLarge:
                    too_large = InvalidArgument(BODY, f"is larger than {max_body} bytes")
                    return error_response(too_large, status=413)
            return await handler(request)
        finally:
            if reservation is not None:
                await reservation.release()
            guard.request_finished(request.protocol)

    return bounded
