"""Route handlers of the JSON surface: map the body, run the core, map the events. Nothing more.

Authentication, request ids, tracing, metrics and the error envelope are the middleware's.
With `Accept: text/event-stream` the same routes stream Server-Sent Events instead of answering
once at the end.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncGenerator, AsyncIterator
from typing import cast

from aiohttp import web
from aiohttp.typedefs import Handler
from visionstudio.server.api.http import answers, bodies, sse
from visionstudio.server.api.http.envelope import error_response
from visionstudio.server.api.http.middleware import caller_of
from visionstudio.server.api.http.models import ENDPOINTS, JOB_ID_HEADER, Endpoint
from visionstudio.server.api.http.openapi import OPENAPI_PATH, openapi_document
from visionstudio.server.errors import ServiceError
from visionstudio.server.jobs.events import Accepted, Finished, ImageReady, JobEvent
from visionstudio.server.jobs.runner import ImageStudio


class JsonApi:
    def __init__(self, *, studio: ImageStudio, max_call_s: float) -> None:
        self._studio = studio
        # HTTP callers have no deadline of their own to send; this bounds every call.
        self._max_call_s = max_call_s

    def add_routes(self, app: web.Application) -> None:
        """Mounts the surface; the `bounded_bodies` middleware must run before its handlers."""
        app.router.add_get(OPENAPI_PATH, self._openapi)
        for endpoint in ENDPOINTS:
            app.router.add_post(endpoint.path, self._handler(endpoint))

    async def _openapi(self, request: web.Request) -> web.Response:
        return web.json_response(openapi_document())

    def _handler(self, endpoint: Endpoint) -> Handler:
        async def handle(request: web.Request) -> web.StreamResponse:
            return await self._run(endpoint, request)

        return handle

    async def _run(self, endpoint: Endpoint, request: web.Request) -> web.StreamResponse:
        # Received (and bounded) by the `bounded_bodies` middleware, parsed under its budget.
        spec = await bodies.parsed(request, endpoint.parse)
        # An async generator: closing it on any exit (the caller hanging up included) cancels
        # the job's upstream calls at once instead of whenever it is garbage-collected.
        events = cast(
            AsyncGenerator[JobEvent, None],
            self._studio.run(spec, caller=caller_of(request), timeout_s=self._max_call_s),
        )
        async with contextlib.aclosing(events):
            if sse.wants_events(request):
                return await sse.stream(request, events)
            return await _answer(events)


async def _answer(events: AsyncIterator[JobEvent]) -> web.Response:
    """The whole job as one JSON answer; once accepted, every answer names the job (header
    `X-Job-Id`, and `job_id` in an error's metadata) so a caller can fetch it later."""
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
                body = await asyncio.to_thread(answers.success_body, accepted, images, event)
                return web.Response(
                    body=body,
                    content_type="application/json",
                    headers={JOB_ID_HEADER: accepted.job_id},
                )
    except ServiceError as error:
        if accepted is None:
            return error_response(error)
        error.metadata.setdefault("job_id", accepted.job_id)
        response = error_response(error, accepted, images)
        response.headers[JOB_ID_HEADER] = accepted.job_id
        return response
    raise AssertionError("the job ended without a summary")
