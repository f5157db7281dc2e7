"""`ImageClient`: the ImageService calls on a blocking channel, with plain iterators."""

# Postponed annotations: grpc's classes are generic only in their type stubs.
from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from types import TracebackType
from typing import Protocol, Self

import grpc
from visionstudio.client.calls import ImageCalls, Stub
from visionstudio.client.channel import open_channel
from visionstudio.client.reattach import Reattach
from visionstudio.image.v1 import image_service_pb2 as pb
from visionstudio.image.v1 import image_service_pb2_grpc as pb_grpc


class _Stream(Protocol):
    """A streaming call as this client uses it."""

    def __iter__(self) -> Iterator[pb.ImageEvent]: ...
    def cancel(self) -> bool: ...


class ImageClient(
    ImageCalls[_Stream, Iterator[pb.ImageEvent], pb.Job, pb.ListJobsResponse, pb.GetUsageResponse]
):
    """Blocking ImageService client; the same API as `AsyncImageClient` with plain iterators."""

    def _connect(
        self, target: str, tls: grpc.ChannelCredentials | None
    ) -> Stub[_Stream, pb.Job, pb.ListJobsResponse, pb.GetUsageResponse]:
        self._channel = open_channel(target, tls)
        return pb_grpc.ImageServiceStub(self._channel)

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
