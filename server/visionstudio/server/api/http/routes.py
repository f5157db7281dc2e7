"""Route handlers of the JSON surface: map the body, run the core, map the events. Nothing more.

With `Accept: text/event-stream` the same routes stream Server-Sent Events instead of answering
once at the end.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import logging
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable, Sequence
from typing import Any, cast

from aiohttp import web
from opentelemetry import trace
from visionstudio.server.api.auth import API_KEY_HEADER, ApiKeys
from visionstudio.server.api.http import json_api
from visionstudio.server.api.http.json_api import EVENT_STREAM, Endpoint
from visionstudio.server.api.status import http_headers, http_status
from visionstudio.server.errors import Internal, InvalidArgument, ServiceError
from visionstudio.server.jobs.events import (
    Accepted,
    Finished,
    ImageReady,
    JobEvent,
    Progress,
)
from visionstudio.server.jobs.runner import ImageStudio
from visionstudio.server.observability import tracing

log = logging.getLogger(__name__)
tracer = trace.get_tracer(__name__)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def error_response(
    error: ServiceError,
    job: Accepted | None = None,
    images: Sequence[ImageReady] = (),
    *,
    status: int | None = None,
) -> web.Response:
    """The JSON failure answer; `job` and `images` are what a failed job still delivered."""
    return web.json_response(
        json_api.error_json(error, job, images),
        status=status or http_status(error),
        headers=http_headers(error),
    )


def _wants_events(request: web.Request) -> bool:
    accept = request.headers.get("Accept", "")
    return any(part.split(";")[0].strip().lower() == EVENT_STREAM for part in accept.split(","))


class _EventStream:
    """Writes Server-Sent Events; a lock keeps keepalive comments from splitting an event."""

    def __init__(self, response: web.StreamResponse) -> None:
        self._response = response
        self._lock = asyncio.Lock()

    async def send(self, event: str, data: dict[str, Any]) -> None:
        await self._write(f"event: {event}\ndata: {json.dumps(data)}\n\n".encode())

    async def _write(self, chunk: bytes) -> None:
        async with self._lock:
            await self._response.write(chunk)

    @contextlib.asynccontextmanager
    async def keepalive(self) -> AsyncIterator[None]:
        task = asyncio.create_task(self._keepalive())
        try:
            yield
        finally:
            task.cancel()
            await asyncio.wait({task})

    async def _keepalive(self) -> None:
        # A write failing here means the caller left; the handler finds out on its own.
        with contextlib.suppress(ConnectionResetError):
            while True:
                await asyncio.sleep(json_api.KEEPALIVE_S)
                await self._write(b": keepalive\n\n")


class JsonApi:
    def __init__(
        self, *, studio: ImageStudio, keys: ApiKeys, max_call_s: float, max_body_bytes: int
    ) -> None:
        self._studio = studio
        self._keys = keys
        # HTTP callers have no deadline of their own to send; this bounds every call.
        self._max_call_s = max_call_s
        self._max_body = max_body_bytes

    def add_routes(self, app: web.Application) -> None:
        """Mounts the surface; `app` must be built with client_max_size=max_body_bytes."""
        app.router.add_get(json_api.OPENAPI_PATH, self._openapi)
        for endpoint in json_api.ENDPOINTS:
            app.router.add_post(endpoint.path, self._handler(endpoint))

    async def _openapi(self, request: web.Request) -> web.Response:
        # Like every route but the health checks, the description needs a key too.
        self._keys.authenticate(request.headers.get(API_KEY_HEADER))
        return web.json_response(json_api.openapi_document())

    def _handler(self, endpoint: Endpoint) -> Handler:
        async def handle(request: web.Request) -> web.StreamResponse:
            with tracer.start_as_current_span(
                f"{request.method} {endpoint.path}",
                context=tracing.extract(request.headers),
                kind=trace.SpanKind.SERVER,
                attributes={
                    "http.request.method": request.method,
                    "http.route": endpoint.path,
                    "url.path": request.path,
                    "url.scheme": request.scheme,
                },
                # Set below from the answer: a refused request (4xx) is no failure of the server.
                record_exception=False,
                set_status_on_exception=False,
            ) as span:
                try:
                    response = await self._run(endpoint, request)
                except Exception as exc:
                    # What the `_errors` middleware answers: the error's own status, else 500.
                    if isinstance(exc, ServiceError):
                        tracing.http_status(span, http_status(exc), exc.message)
                    else:
                        span.record_exception(exc)
                        tracing.http_status(span, 500)
                    raise
                tracing.http_status(span, response.status)
                return response

        return handle

    async def _run(self, endpoint: Endpoint, request: web.Request) -> web.StreamResponse:
        # Authenticated before the body is read: nobody unknown gets to upload 100 MB.
        caller = self._keys.authenticate(request.headers.get(API_KEY_HEADER))
        try:
            raw = await request.read()
        except web.HTTPRequestEntityTooLarge:
            too_large = InvalidArgument(json_api.BODY, f"is larger than {self._max_body} bytes")
            return error_response(too_large, status=413)
        # Parsing and base64-decoding up to ~140 MB would stall every other caller's stream.
        spec = await asyncio.to_thread(endpoint.parse, raw)
        # An async generator: closing it on any exit (the caller hanging up included) cancels
        # the job's upstream calls at once instead of whenever it is garbage-collected.
        events = cast(
            AsyncGenerator[JobEvent, None],
            self._studio.run(spec, caller=caller, timeout_s=self._max_call_s),
        )
        async with contextlib.aclosing(events):
            if _wants_events(request):
                return await self._stream(request, events)
            return await self._answer(events)

    async def _answer(self, events: AsyncIterator[JobEvent]) -> web.Response:
        accepted: Accepted | None = None
        images: list[ImageReady] = []
        try:
            async for event in events:
                if isinstance(event, Accepted):
                    accepted = event
                elif isinstance(event, ImageReady):
                    images.append(event)
                elif isinstance(event, Finished):
                    assert accepted is not None
                    return web.json_response(json_api.success_json(accepted, images, event))
        except ServiceError as error:
            return error_response(error, accepted, images)
        raise AssertionError("the job ended without a summary")

    async def _stream(
        self, request: web.Request, events: AsyncIterator[JobEvent]
    ) -> web.StreamResponse:
        # Validation, auth and input errors come before the first event: they still get a
        # plain JSON answer with their status, as nothing has been sent yet.
        accepted = await anext(events)
        assert isinstance(accepted, Accepted)
        response = web.StreamResponse(
            # X-Accel-Buffering: nginx would otherwise hold events back until its buffer fills.
            headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}
        )
        response.content_type = EVENT_STREAM
        await response.prepare(request)
        stream = _EventStream(response)
        images: list[ImageReady] = []
        try:
            await stream.send("accepted", json_api.accepted_json(accepted))
            async with (
                stream.keepalive(),
                contextlib.aclosing(_as_events(events, accepted, images)) as job_events,
            ):
                async for kind, payload in job_events:
                    await stream.send(kind, payload)
            await response.write_eof()
        except ConnectionResetError:
            log.info("job %s: the caller closed the event stream", accepted.job_id)
        return response


async def _as_events(
    events: AsyncIterator[JobEvent], accepted: Accepted, images: list[ImageReady]
) -> AsyncGenerator[tuple[str, dict[str, Any]], None]:
    """The job's remaining events as (SSE event name, JSON); a failure becomes an `error`."""
    try:
        async for event in events:
            if isinstance(event, ImageReady):
                images.append(event)
                yield "image", json_api.image_json(event)
            elif isinstance(event, Finished):
                yield "summary", json_api.summary_json(event)
            elif isinstance(event, Progress):
                yield "progress", dataclasses.asdict(event)
    except ServiceError as error:
        yield "error", json_api.error_json(error, accepted, images)
    except Exception:
        log.exception("job %s failed unexpectedly", accepted.job_id)
        yield "error", json_api.error_json(Internal("internal error"), accepted, images)
