"""The batch calls of ImageService (RunBatch, WatchBatch, GetBatch, ListBatches, CancelBatch),
described once for the async and the blocking client, beside `calls.ImageCalls`."""

import abc
from collections.abc import Callable, Iterable
from functools import partial
from typing import Generic, Protocol, TypeVar

from visionstudio.client.calls import CallOptions, Rpc
from visionstudio.client.reattach import BatchReattach
from visionstudio.image.v1 import image_service_pb2 as pb

# What the stub returns for a batch stream, what the client hands back for it, and what it
# returns for each unary call: an awaitable call on grpc.aio, the message itself when blocking.
_Stream = TypeVar("_Stream")
_Stream_co = TypeVar("_Stream_co", covariant=True)
_Events = TypeVar("_Events")
_Batch = TypeVar("_Batch", covariant=True)
_BatchList = TypeVar("_BatchList", covariant=True)


class BatchStub(Protocol[_Stream_co, _Batch, _BatchList]):
    """The generated stub's batch methods, on either kind of channel."""

    @property
    def RunBatch(self) -> Rpc[pb.RunBatchRequest, _Stream_co]: ...
    @property
    def WatchBatch(self) -> Rpc[pb.WatchBatchRequest, _Stream_co]: ...
    @property
    def GetBatch(self) -> Rpc[pb.GetBatchRequest, _Batch]: ...
    @property
    def ListBatches(self) -> Rpc[pb.ListBatchesRequest, _BatchList]: ...
    @property
    def CancelBatch(self) -> Rpc[pb.CancelBatchRequest, _Batch]: ...


class BatchCalls(Generic[_Stream, _Events, _Batch, _BatchList], abc.ABC):
    """Many requests in one call, every image streamed as it finishes, tagged with its item.

    Build the items with `generate_item`, `edit_item` and `inpaint_item` (the keyword
    arguments of `generate`, `edit` and `inpaint`). A batch stream cut by a server shutting
    down continues with WatchBatch on its own, without repeating events the caller has.
    """

    _reattach_attempts: int

    def run_batch(
        self,
        items: Iterable[pb.BatchRequestItem],
        *,
        idempotency_key: str = "",
        timeout: float | None = None,
    ) -> _Events:
        """Streams the batch: `accepted`, then each item's `item_started`, `image`s and
        `item_ended` as they happen, then `summary`. A repeat with the same `idempotency_key`
        re-attaches to the first batch."""
        request = pb.RunBatchRequest(items=items, idempotency_key=idempotency_key)
        return self._batch_stream(partial(self._batch_stub.RunBatch, request), "", timeout)

    def watch_batch(self, batch_id: str, *, timeout: float | None = None) -> _Events:
        """Re-attaches to a batch: what is done, then the rest as it finishes."""
        request = pb.WatchBatchRequest(batch_id=batch_id)
        return self._batch_stream(partial(self._batch_stub.WatchBatch, request), batch_id, timeout)

    def get_batch(self, batch_id: str, *, timeout: float | None = None) -> _Batch:
        """One of the caller's batches with its items."""
        request = pb.GetBatchRequest(batch_id=batch_id)
        return self._batch_stub.GetBatch(request, **self._call_options(timeout))

    def list_batches(
        self, *, page_size: int = 0, page_token: str = "", timeout: float | None = None
    ) -> _BatchList:
        """A page of the caller's batches, newest first; pass `next_page_token` as
        `page_token` for the next."""
        request = pb.ListBatchesRequest(page_size=page_size, page_token=page_token)
        return self._batch_stub.ListBatches(request, **self._call_options(timeout))

    def cancel_batch(self, batch_id: str, *, timeout: float | None = None) -> _Batch:
        """Cancels every unfinished item of one of the caller's batches; an ended batch comes
        back unchanged."""
        request = pb.CancelBatchRequest(batch_id=batch_id)
        return self._batch_stub.CancelBatch(request, **self._call_options(timeout))

    @property
    @abc.abstractmethod
    def _batch_stub(self) -> BatchStub[_Stream, _Batch, _BatchList]:
        """The stub the subclass opened."""

    @abc.abstractmethod
    def _call_options(self, timeout: float | None) -> CallOptions:
        """The key's metadata and the call's deadline."""

    @abc.abstractmethod
    def _iterate_batch(
        self,
        start: Callable[[], _Stream],
        reattach: BatchReattach,
        watch: Callable[[pb.WatchBatchRequest], _Stream],
    ) -> _Events:
        """As `ImageCalls._iterate`, for a batch stream and WatchBatch."""

    def _batch_stream(
        self, call: Callable[..., _Stream], batch_id: str, timeout: float | None
    ) -> _Events:
        """`call` with the request bound; `batch_id` is known up front for a watch."""
        options = self._call_options(timeout)
        reattach = BatchReattach(batch_id=batch_id, attempts=self._reattach_attempts)
        watch = partial(self._batch_stub.WatchBatch, **options)
        return self._iterate_batch(partial(call, **options), reattach, watch)
