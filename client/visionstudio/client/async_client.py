"""`AsyncImageClient`: the ImageService calls on a grpc.aio channel."""

# Postponed annotations: grpc's classes are generic only in their type stubs.
from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from types import TracebackType
from typing import Any, Protocol, Self, TypeVar

import grpc
from visionstudio.client.batch_calls import BatchCalls, BatchStub
from visionstudio.client.calls import ImageCalls, Stub
from visionstudio.client.channel import open_aio_channel
from visionstudio.client.reattach import BatchReattach, Reattach, Resume
from visionstudio.image.v1 import image_service_pb2 as pb
from visionstudio.image.v1 import image_service_pb2_grpc as pb_grpc

_Event = TypeVar("_Event", covariant=True)
_AnyEvent = TypeVar("_AnyEvent")
_WatchRequest = TypeVar("_WatchRequest")


class _Call(Protocol[_Event]):
    """A streaming call as this client uses it, whatever its request type."""

    def __aiter__(self) -> AsyncIterator[_Event]: ...
    def cancel(self) -> bool: ...


_Stream = _Call[pb.ImageEvent]
_BatchStream = _Call[pb.BatchEvent]


# GetJob and CancelJob both answer a Job.
_Job = grpc.aio.UnaryUnaryCall[Any, pb.Job]
_JobList = grpc.aio.UnaryUnaryCall[pb.ListJobsRequest, pb.ListJobsResponse]
_Usage = grpc.aio.UnaryUnaryCall[pb.GetUsageRequest, pb.GetUsageResponse]
# GetBatch and CancelBatch both answer a Batch.
_Batch = grpc.aio.UnaryUnaryCall[Any, pb.Batch]
_BatchList = grpc.aio.UnaryUnaryCall[pb.ListBatchesRequest, pb.ListBatchesResponse]


class AsyncImageClient(
    ImageCalls[_Stream, AsyncIterator[pb.ImageEvent], _Job, _JobList, _Usage],
    BatchCalls[_BatchStream, AsyncIterator[pb.BatchEvent], _Batch, _BatchList],
):
    """ImageService client on a grpc.aio channel; use `async with` or call `close()`.

    The methods return async iterators that start the call on first iteration and yield each
    event as it arrives. `timeout` is the default deadline of every call, in seconds.
    """

    def _connect(
        self, target: str, tls: grpc.ChannelCredentials | None
    ) -> Stub[_Stream, _Job, _JobList, _Usage]:
        self._channel = open_aio_channel(target, tls)
        self._service = pb_grpc.ImageServiceStub(self._channel)
        return self._service

    @property
    def _batch_stub(self) -> BatchStub[_BatchStream, _Batch, _BatchList]:
        return self._service

    async def close(self) -> None:
        await self._channel.close()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.close()

    def _iterate(
        self,
        start: Callable[[], _Stream],
        reattach: Reattach,
        watch: Callable[[pb.WatchJobRequest], _Stream],
    ) -> AsyncIterator[pb.ImageEvent]:
        return _follow(start, reattach, watch)

    def _iterate_batch(
        self,
        start: Callable[[], _BatchStream],
        reattach: BatchReattach,
        watch: Callable[[pb.WatchBatchRequest], _BatchStream],
    ) -> AsyncIterator[pb.BatchEvent]:
        return _follow(start, reattach, watch)


async def _follow(
    start: Callable[[], _Call[_AnyEvent]],
    reattach: Resume[_AnyEvent, _WatchRequest],
    watch: Callable[[_WatchRequest], _Call[_AnyEvent]],
) -> AsyncIterator[_AnyEvent]:
    """One logical stream: the call, then watches while `reattach` says to go on."""
    call = start()
    try:
        while True:
            try:
                async for event in call:
                    if reattach.forward(event):
                        yield event
                return
            except grpc.RpcError as err:
                delay = reattach.retry_after(err)
                if delay is None:
                    raise
            await asyncio.sleep(delay)
            call = watch(reattach.watch_request())
    finally:
        # Stop the stream at once when the caller stops iterating early (whether the job
        # itself goes on is the server's setting).
        call.cancel()
