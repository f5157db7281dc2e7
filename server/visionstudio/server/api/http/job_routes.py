"""The job routes of the JSON surface: get a job, list jobs, usage, watch a job as Server-Sent
Events, and cancel one. Thin, like the image routes: parse the query, ask the core, map the
answer."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncGenerator
from typing import cast

from aiohttp import web
from visionstudio.server.api.http import job_answers, sse
from visionstudio.server.api.http.envelope import json_answer
from visionstudio.server.api.http.job_answers import JobFilter, UsageRange, WatchQuery, epoch
from visionstudio.server.api.http.middleware import caller_of
from visionstudio.server.api.http.models import API_PREFIX
from visionstudio.server.jobs.events import JobEvent
from visionstudio.server.jobs.queries import JobQueries
from visionstudio.server.jobs.runner import ImageStudio

JOBS_PATH = f"{API_PREFIX}/jobs"
JOB_PATH = f"{API_PREFIX}/jobs/{{job_id}}"
WATCH_PATH = f"{API_PREFIX}/jobs/{{job_id}}/watch"
USAGE_PATH = f"{API_PREFIX}/usage"
CANCEL_PATH = f"{API_PREFIX}/jobs/{{job_id}}/cancel"


class JobRoutes:
    def __init__(self, *, queries: JobQueries, studio: ImageStudio, max_call_s: float) -> None:
        self._queries = queries
        self._studio = studio
        # Bounds a watch, as it bounds every image call.
        self._max_call_s = max_call_s

    def add_routes(self, app: web.Application) -> None:
        app.router.add_get(JOBS_PATH, self._list)
        app.router.add_get(JOB_PATH, self._get)
        app.router.add_get(WATCH_PATH, self._watch)
        app.router.add_get(USAGE_PATH, self._usage)
        app.router.add_post(CANCEL_PATH, self._cancel)

    async def _cancel(self, request: web.Request) -> web.Response:
        view = await self._studio.cancel(request.match_info["job_id"], caller_of(request))
        return json_answer(job_answers.job_json(view.job, view.images))

    async def _get(self, request: web.Request) -> web.Response:
        view = await self._queries.get(request.match_info["job_id"], caller_of(request))
        return json_answer(job_answers.job_json(view.job, view.images))

    async def _list(self, request: web.Request) -> web.Response:
        query = job_answers.parse_query(JobFilter, request.query)
        page = await self._queries.list(
            caller_of(request),
            status=query.status,
            created_after=epoch(query.created_after),
            created_before=epoch(query.created_before),
            page_size=query.page_size,
            page_token=query.page_token,
        )
        return json_answer(job_answers.page_json(page))

    async def _usage(self, request: web.Request) -> web.Response:
        query = job_answers.parse_query(UsageRange, request.query)
        totals = await self._queries.usage(
            caller_of(request), since=epoch(query.start_time), until=epoch(query.end_time)
        )
        return json_answer(job_answers.usage_json(totals))

    async def _watch(self, request: web.Request) -> web.StreamResponse:
        query = job_answers.parse_query(WatchQuery, request.query)
        job = await self._queries.own_job(request.match_info["job_id"], caller_of(request))
        events = cast(
            AsyncGenerator[JobEvent, None],
            self._queries.watch(job, include_data=query.include_data, timeout_s=self._max_call_s),
        )
        async with contextlib.aclosing(events):
            return await sse.stream(request, events)
