"""Server-Sent Events: a job's (or a batch's) events as they happen, for callers that send
`Accept: text/event-stream`."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
from collections.abc import AsyncGenerator, AsyncIterator
from typing import Any

import orjson
from aiohttp import web
from visionstudio.server.api.http import answers
from visionstudio.server.background import Periodic
from visionstudio.server.errors import Internal, ServiceError
from visionstudio.server.jobs.events import (
    Accepted,
    Finished,
    ImageReady,
    JobEvent,
    Preview,
    Progress,
)

log = logging.getLogger(__name__)

EVENT_STREAM = "text/event-stream"
# A comment line this often keeps proxies from closing a stream that waits on a slow image.
KEEPALIVE_S = 15.0


def wants_events(request: web.Request) -> bool:
    accept = request.headers.get("Accept", "")
    return any(part.split(";")[0].strip().lower() == EVENT_STREAM for part in accept.split(","))


class _EventStream:
    """Writes Server-Sent Events; a lock keeps keepalive comments from splitting an event."""

    def __init__(self, response: web.StreamResponse) -> None:
        self._response = response
        self._lock = asyncio.Lock()

    async def send(self, event: str, data: dict[str, Any]) -> None:
        # An image with its bytes is megabytes of base64: encoded off the loop, in one piece.
        large = event == "image" and "data" in data
        encoded = await asyncio.to_thread(orjson.dumps, data) if large else orjson.dumps(data)
        await self._write(b"".join((b"event: ", event.encode(), b"\ndata: ", encoded, b"\n\n")))

    async def keepalive(self) -> None:
        # A write failing here means the caller left; the handler finds out on its own.
        with contextlib.suppress(ConnectionResetError):
            await self._write(b": keepalive\n\n")

    async def _write(self, chunk: bytes) -> None:
        async with self._lock:
            await self._response.write(chunk)


async def relay(
    request: web.Request, named: AsyncGenerator[tuple[str, dict[str, Any]], None], what: str
) -> web.StreamResponse:
    """Sends (event name, JSON) pairs as Server-Sent Events, with keepalive comments between
    them; `what` names the stream in the log. Errors after this point can only be events."""
    response = web.StreamResponse(
        # X-Accel-Buffering: nginx would otherwise hold events back until its buffer fills.
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}
    )
    response.content_type = EVENT_STREAM
    await response.prepare(request)
    sse = _EventStream(response)
    try:
        async with (
            Periodic("sse-keepalive", KEEPALIVE_S, sse.keepalive),
            contextlib.aclosing(named),
        ):
            async for kind, payload in named:
                await sse.send(kind, payload)
        await response.write_eof()
    except ConnectionResetError:
        log.info("%s: the caller closed the event stream", what)
    return response


async def stream(request: web.Request, events: AsyncIterator[JobEvent]) -> web.StreamResponse:
    """Sends the job's events; the first one (Accepted) must not have been consumed yet."""
    # Validation, auth and input errors come before the first event: they still get a
    # plain JSON answer with their status, as nothing has been sent yet.
    accepted = await anext(events)
    assert isinstance(accepted, Accepted)
    return await relay(request, _as_events(events, accepted), f"job {accepted.job_id}")


async def _as_events(
    events: AsyncIterator[JobEvent], accepted: Accepted
) -> AsyncGenerator[tuple[str, dict[str, Any]], None]:
    """The job's events as (SSE event name, JSON); a failure becomes an `error`."""
    yield "accepted", answers.accepted_json(accepted)
    images: list[ImageReady] = []
    try:
        async for event in events:
            if isinstance(event, ImageReady):
                images.append(event)
                # With `include_data`, megabytes of base64: encoded off the loop.
                yield "image", await asyncio.to_thread(answers.image_json, event)
            elif isinstance(event, Finished):
                yield "summary", answers.summary_json(event)
            elif isinstance(event, Progress):
                yield "progress", dataclasses.asdict(event)
            elif isinstance(event, Preview):
                yield "preview", answers.preview_json(event)
    except ServiceError as error:
        yield "error", answers.error_json(error, accepted, images)
    except Exception:
        log.exception("job %s failed unexpectedly", accepted.job_id)
        yield "error", answers.error_json(Internal("internal error"), accepted, images)
