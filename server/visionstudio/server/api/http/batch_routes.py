"""The batch routes of the JSON surface: submit a batch (answered at once, or followed as
Server-Sent Events), list, get, watch and cancel batches. Thin, like the image routes: parse,
ask the core, map the answer."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
from collections.abc import AsyncGenerator
from typing import Any, cast

from aiohttp import web
from visionstudio.server.api.http import answers, batch_answers, bodies, sse
from visionstudio.server.api.http.batch_answers import BatchFilter
from visionstudio.server.api.http.batch_requests import IDEMPOTENCY_HEADER, parse_batch
from visionstudio.server.api.http.envelope import json_answer
from visionstudio.server.api.http.job_answers import parse_query
from visionstudio.server.api.http.middleware import caller_of
from visionstudio.server.api.http.models import API_PREFIX
from visionstudio.server.errors import Internal, ServiceError
from visionstudio.server.jobs.batch_events import (
    BatchAccepted,
    BatchEvent,
    ItemImage,
)
from visionstudio.server.jobs.batches import Batches

log = logging.getLogger(__name__)

BATCHES_PATH = f"{API_PREFIX}/batches"
BATCH_PATH = f"{API_PREFIX}/batches/{{batch_id}}"
BATCH_EVENTS_PATH = f"{API_PREFIX}/batches/{{batch_id}}/events"
BATCH_CANCEL_PATH = f"{API_PREFIX}/batches/{{batch_id}}/cancel"


class BatchRoutes:
    def __init__(self, *, batches: Batches) -> None:
        self._batches = batches

    def add_routes(self, app: web.Application) -> None:
        """Mounts the routes; the `bounded_bodies` middleware must run before their handlers."""
        app.router.add_post(BATCHES_PATH, self._submit)
        app.router.add_get(BATCHES_PATH, self._list)
        app.router.add_get(BATCH_PATH, self._get)
        app.router.add_get(BATCH_EVENTS_PATH, self._events)
        app.router.add_post(BATCH_CANCEL_PATH, self._cancel)

    async def _submit(self, request: web.Request) -> web.StreamResponse:
        # Received (and bounded) by the `bounded_bodies` middleware; up to 1,000 items, maybe
        # with base64 images: parsed off the loop, under the request-bytes budget.
        submission = await bodies.parsed(
            request,
            functools.partial(
                parse_batch,
                content_type=request.content_type,
                header_key=request.headers.get(IDEMPOTENCY_HEADER),
            ),
        )
        caller = caller_of(request)
        events = cast(
            AsyncGenerator[BatchEvent, None],
            self._batches.run(
                submission.items, caller=caller, idempotency_key=submission.idempotency_key
            ),
        )
        async with contextlib.aclosing(events):
            if sse.wants_events(request):
                return await _stream(request, events)
            accepted = await anext(events)
        # The batch runs on in its own task, without this caller.
        assert isinstance(accepted, BatchAccepted)
        view = await self._batches.get(accepted.batch_id, caller)
        location = BATCH_PATH.format(batch_id=accepted.batch_id)
        return json_answer(
            batch_answers.batch_json(view), status=202, headers={"Location": location}
        )

    async def _list(self, request: web.Request) -> web.Response:
        query = parse_query(BatchFilter, request.query)
        page = await self._batches.list(
            caller_of(request), page_size=query.page_size, page_token=query.page_token
        )
        return json_answer(batch_answers.page_json(page))

    async def _get(self, request: web.Request) -> web.Response:
        view = await self._batches.get(request.match_info["batch_id"], caller_of(request))
        return json_answer(batch_answers.batch_json(view))

    async def _events(self, request: web.Request) -> web.StreamResponse:
        events = cast(
            AsyncGenerator[BatchEvent, None],
            self._batches.watch(request.match_info["batch_id"], caller_of(request)),
        )
        async with contextlib.aclosing(events):
            return await _stream(request, events)

    async def _cancel(self, request: web.Request) -> web.Response:
        view = await self._batches.cancel(request.match_info["batch_id"], caller_of(request))
        return json_answer(batch_answers.batch_json(view))


async def _stream(
    request: web.Request, events: AsyncGenerator[BatchEvent, None]
) -> web.StreamResponse:
    """The batch's events as Server-Sent Events. Errors before the first event (a bad batch, an
    unknown id) are still plain JSON answers with their status."""
    accepted = await anext(events)
    assert isinstance(accepted, BatchAccepted)
    return await sse.relay(request, _named(accepted, events), f"batch {accepted.batch_id}")


async def _named(
    accepted: BatchAccepted, events: AsyncGenerator[BatchEvent, None]
) -> AsyncGenerator[tuple[str, dict[str, Any]], None]:
    """(SSE event name, JSON) per event; a failure of the stream itself becomes an `error`."""
    yield batch_answers.event_json(accepted)
    try:
        async for event in events:
            if isinstance(event, ItemImage) and event.image.data is not None:
                # With `include_data`, megabytes of base64: encoded off the loop.
                yield await asyncio.to_thread(batch_answers.event_json, event)
            else:
                yield batch_answers.event_json(event)
    except ServiceError as error:
        yield "error", answers.error_json(error)
    except Exception:
        log.exception("batch %s: its event stream failed", accepted.batch_id)
        yield "error", answers.error_json(Internal("internal error"))
