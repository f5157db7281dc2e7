"""ImageService RPC handlers: map the request, run the core, map the events. Nothing more."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import grpc
from visionstudio.image.v1 import image_service_pb2 as pb
from visionstudio.image.v1 import image_service_pb2_grpc as pb_grpc
from visionstudio.server.api.grpc import batch_mapping
from visionstudio.server.api.grpc import mapping as proto_mapping
from visionstudio.server.api.grpc.interceptor import current_caller
from visionstudio.server.errors import InvalidArgument
from visionstudio.server.jobs.batches import Batches
from visionstudio.server.jobs.events import JobEvent
from visionstudio.server.jobs.queries import JobQueries
from visionstudio.server.jobs.runner import ImageStudio
from visionstudio.server.spec import JobSpec

DEFAULT_PAGE_SIZE = 50
MAX_PAGE_SIZE = 100
# The server answers this much before the caller's gRPC deadline: an answer sent at the
# deadline itself loses the race to the caller's own timer, which then reports a bare
# DEADLINE_EXCEEDED without the job id or RetryInfo. A tenth of the time, 0.1 s..1 s.
MARGIN_SHARE, MARGIN_MIN_S, MARGIN_MAX_S = 0.1, 0.1, 1.0


def answer_within(remaining: float) -> float:
    """The time the server may take of a caller's `remaining` seconds."""
    margin = min(MARGIN_MAX_S, max(MARGIN_MIN_S, remaining * MARGIN_SHARE))
    return max(0.0, remaining - margin)


class ImageService(pb_grpc.ImageServiceServicer):
    def __init__(
        self,
        studio: ImageStudio,
        queries: JobQueries,
        batches: Batches,
        *,
        max_call_s: float,
        max_message_bytes: int,
    ) -> None:
        self._studio = studio
        self._queries = queries
        self._batches = batches
        self._max_call_s = max_call_s
        self._max_message_bytes = max_message_bytes

    def _event(self, event: JobEvent) -> pb.ImageEvent:
        return proto_mapping.to_event(event, self._max_message_bytes)

    def _timeout(self, context: grpc.aio.ServicerContext[Any, Any]) -> float:
        remaining = context.time_remaining()
        if remaining is None:
            return self._max_call_s
        return min(answer_within(remaining), self._max_call_s)

    async def _run(
        self, spec: JobSpec, context: grpc.aio.ServicerContext[Any, Any]
    ) -> AsyncIterator[pb.ImageEvent]:
        events = self._studio.run(
            spec, caller=current_caller.get(), timeout_s=self._timeout(context)
        )
        async for event in events:
            yield self._event(event)

    async def GenerateImage(
        self, request: pb.GenerateImageRequest, context: grpc.aio.ServicerContext[Any, Any]
    ) -> AsyncIterator[pb.ImageEvent]:
        async for event in self._run(proto_mapping.to_spec(request), context):
            yield event

    async def EditImage(
        self, request: pb.EditImageRequest, context: grpc.aio.ServicerContext[Any, Any]
    ) -> AsyncIterator[pb.ImageEvent]:
        async for event in self._run(proto_mapping.to_spec(request), context):
            yield event

    async def Inpaint(
        self, request: pb.InpaintRequest, context: grpc.aio.ServicerContext[Any, Any]
    ) -> AsyncIterator[pb.ImageEvent]:
        async for event in self._run(proto_mapping.to_spec(request), context):
            yield event

    async def GetJob(
        self, request: pb.GetJobRequest, context: grpc.aio.ServicerContext[Any, Any]
    ) -> pb.Job:
        view = await self._queries.get(request.job_id, current_caller.get())
        return proto_mapping.to_job(view.job, view.images)

    async def WatchJob(
        self, request: pb.WatchJobRequest, context: grpc.aio.ServicerContext[Any, Any]
    ) -> AsyncIterator[pb.ImageEvent]:
        job = await self._queries.own_job(request.job_id, current_caller.get())
        events = self._queries.watch(
            job, include_data=request.include_data, timeout_s=self._timeout(context)
        )
        async for event in events:
            yield self._event(event)

    async def CancelJob(
        self, request: pb.CancelJobRequest, context: grpc.aio.ServicerContext[Any, Any]
    ) -> pb.Job:
        view = await self._studio.cancel(request.job_id, current_caller.get())
        return proto_mapping.to_job(view.job, view.images)

    async def ListJobs(
        self, request: pb.ListJobsRequest, context: grpc.aio.ServicerContext[Any, Any]
    ) -> pb.ListJobsResponse:
        page = await self._queries.list(
            current_caller.get(),
            status=proto_mapping.status_filter(request.status),
            created_after=proto_mapping.seconds(
                request.created_after, request.HasField("created_after")
            ),
            created_before=proto_mapping.seconds(
                request.created_before, request.HasField("created_before")
            ),
            page_size=_page_size(request.page_size),
            page_token=request.page_token or None,
        )
        return pb.ListJobsResponse(
            jobs=[proto_mapping.to_job(job, []) for job in page.jobs],
            next_page_token=page.next_page_token or "",
        )

    async def GetUsage(
        self, request: pb.GetUsageRequest, context: grpc.aio.ServicerContext[Any, Any]
    ) -> pb.GetUsageResponse:
        totals = await self._queries.usage(
            current_caller.get(),
            since=proto_mapping.seconds(request.start_time, request.HasField("start_time")),
            until=proto_mapping.seconds(request.end_time, request.HasField("end_time")),
        )
        return proto_mapping.to_usage(totals)

    async def RunBatch(
        self, request: pb.RunBatchRequest, context: grpc.aio.ServicerContext[Any, Any]
    ) -> AsyncIterator[pb.BatchEvent]:
        events = self._batches.run(
            batch_mapping.to_items(request),
            caller=current_caller.get(),
            idempotency_key=request.idempotency_key,
        )
        async for event in events:
            yield batch_mapping.to_event(event, self._max_message_bytes)

    async def WatchBatch(
        self, request: pb.WatchBatchRequest, context: grpc.aio.ServicerContext[Any, Any]
    ) -> AsyncIterator[pb.BatchEvent]:
        async for event in self._batches.watch(request.batch_id, current_caller.get()):
            yield batch_mapping.to_event(event, self._max_message_bytes)

    async def GetBatch(
        self, request: pb.GetBatchRequest, context: grpc.aio.ServicerContext[Any, Any]
    ) -> pb.Batch:
        view = await self._batches.get(request.batch_id, current_caller.get())
        return batch_mapping.to_batch(view.batch, view.items)

    async def CancelBatch(
        self, request: pb.CancelBatchRequest, context: grpc.aio.ServicerContext[Any, Any]
    ) -> pb.Batch:
        view = await self._batches.cancel(request.batch_id, current_caller.get())
        return batch_mapping.to_batch(view.batch, view.items)

    async def ListBatches(
        self, request: pb.ListBatchesRequest, context: grpc.aio.ServicerContext[Any, Any]
    ) -> pb.ListBatchesResponse:
        page = await self._batches.list(
            current_caller.get(),
            page_size=_page_size(request.page_size),
            page_token=request.page_token or None,
        )
        return pb.ListBatchesResponse(
            batches=[batch_mapping.to_batch(batch) for batch in page.batches],
            next_page_token=page.next_page_token or "",
        )


def _page_size(requested: int) -> int:
    """A listing's page size: 0 asks for the default."""
    if not 0 <= requested <= MAX_PAGE_SIZE:
        raise InvalidArgument("page_size", f"must be between 0 and {MAX_PAGE_SIZE}")
    return requested or DEFAULT_PAGE_SIZE
