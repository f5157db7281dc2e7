"""`ImageClient`: the ImageService calls on a blocking channel, with plain iterators."""

# Postponed annotations: grpc's classes are generic only in their type stubs.
from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from types import TracebackType
from typing import Protocol, Self, TypeVar

import grpc
from visionstudio.client.batch_calls import BatchCalls, BatchStub
from visionstudio.client.calls import ImageCalls, Stub
from visionstudio.client.channel import open_channel
from visionstudio.client.reattach import BatchReattach, Reattach, Resume
from visionstudio.image.v1 import image_service_pb2 as pb
from visionstudio.image.v1 import image_service_pb2_grpc as pb_grpc

_Event = TypeVar("_Event", covariant=True)
_AnyEvent = TypeVar("_AnyEvent")
_WatchRequest = TypeVar("_WatchRequest")


class _Call(Protocol[_Event]):
    """A streaming call as this client uses it."""

    def __iter__(self) -> Iterator[_Event]: ...
    def cancel(self) -> bool: ...


_Stream = _Call[pb.ImageEvent]
_BatchStream = _Call[pb.BatchEvent]


class ImageClient(
    ImageCalls[_Stream, Iterator[pb.ImageEvent], pb.Job, pb.ListJobsResponse, pb.GetUsageResponse],
    BatchCalls[_BatchStream, Iterator[pb.BatchEvent], pb.Batch, pb.ListBatchesResponse],
):
    """Blocking ImageService client; the same API as `AsyncImageClient` with plain iterators."""

    def _connect(
        self, target: str, tls: grpc.ChannelCredentials | None
    ) -> Stub[_Stream, pb.Job, pb.ListJobsResponse, pb.GetUsageResponse]:
        self._channel = open_channel(target, tls)
        self._service = pb_grpc.ImageServiceStub(self._channel)
        return self._service

    @property
    def _batch_stub(self) -> BatchStub[_BatchStream, pb.Batch, pb.ListBatchesResponse]:
        return self._service

    def close(self) -> None:
        self._channel.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    def _iterate(
        self,
        start: Callable[[], _Stream],
        reattach: Reattach,
        watch: Callable[[pb.WatchJobRequest], _Stream],
    ) -> Iterator[pb.ImageEvent]:
        return _follow(start, reattach, watch)

    def _iterate_batch(
        self,
        start: Callable[[], _BatchStream],
        reattach: BatchReattach,
        watch: Callable[[pb.WatchBatchRequest], _BatchStream],
    ) -> Iterator[pb.BatchEvent]:
        return _follow(start, reattach, watch)


def _follow(
    start: Callable[[], _Call[_AnyEvent]],
    reattach: Resume[_AnyEvent, _WatchRequest],
    watch: Callable[[_WatchRequest], _Call[_AnyEvent]],
) -> Iterator[_AnyEvent]:
    """One logical stream: the call, then watches while `reattach` says to go on."""
    call = start()
    try:
        while True:
            try:
                for event in call:
                    if reattach.forward(event):
                        yield event
                return
            except grpc.RpcError as err:
                delay = reattach.retry_after(err)
                if delay is None:
                    raise
            time.sleep(delay)
            call = watch(reattach.watch_request())
    finally:
        # Stop the stream at once when the caller stops iterating early (whether the job
        # itself goes on is the server's setting).
        call.cancel()
