"""Re-attaching to a job or a batch whose stream a server cut while shutting down.

A server that stops ends its open streams with UNAVAILABLE, ErrorInfo reason
`SERVER_SHUTTING_DOWN` and the job (or batch) id in the metadata; the work itself goes on (in
another replica, or once the server is back). The clients then continue with WatchJob (or
WatchBatch), which replays what is done: what the caller already has is dropped, so the caller
sees one stream as if nothing had happened.
"""

# Postponed annotations: grpc's classes are generic only in their type stubs.
from __future__ import annotations

from typing import Protocol, TypeVar

import grpc
from google.rpc import error_details_pb2
from visionstudio.client.errors import error_details
from visionstudio.image.v1 import image_service_pb2 as pb

SHUTTING_DOWN = "SERVER_SHUTTING_DOWN"
# Enough to ride out a rolling restart; a server that stays away is reported, not waited for.
MAX_ATTEMPTS = 5
FIRST_DELAY_S = 0.2
MAX_DELAY_S = 5.0

_Event = TypeVar("_Event", contravariant=True)
_Watch = TypeVar("_Watch", covariant=True)


class Resume(Protocol[_Event, _Watch]):
    """What a client's stream loop asks of the state of one logical stream."""

    def forward(self, event: _Event) -> bool: ...
    def retry_after(self, err: grpc.RpcError) -> float | None: ...
    def watch_request(self) -> _Watch: ...


class _Retries:
    """Whether, and after how long, to re-attach; `_id` is what the watch follows."""

    _metadata_key = "job_id"

    def __init__(self, attempts: int) -> None:
        self._attempts_left = attempts
        self._delay_s = FIRST_DELAY_S
        self._id = ""
        self._resumed = False

    def retry_after(self, err: grpc.RpcError) -> float | None:
        """Seconds to wait before watching, or None when `err` is the caller's to see."""
        if self._attempts_left <= 0 or not _unavailable(err):
            return None
        shutdown, named = _shutdown(err, self._metadata_key)
        self._id = named or self._id
        # A first failure that is not a shutdown: nothing says the work survives it. Once
        # re-attaching, UNAVAILABLE is the restarting server, worth another try.
        if not (shutdown or self._resumed) or not self._id:
            return None
        self._attempts_left -= 1
        self._resumed = True
        delay, self._delay_s = self._delay_s, min(self._delay_s * 2, MAX_DELAY_S)
        return delay


class Reattach(_Retries):
    """The state of one job stream: what the caller has seen, and whether to go on."""

    def __init__(self, *, include_data: bool, attempts: int = MAX_ATTEMPTS) -> None:
        super().__init__(attempts)
        self._include_data = include_data
        self._accepted = False
        self._indices: set[int] = set()

    def forward(self, event: pb.ImageEvent) -> bool:
        """Whether the caller should see `event`: not the replayed `accepted` or images."""
        kind = event.WhichOneof("event")
        if kind == "accepted":
            self._id = event.accepted.job_id
            seen, self._accepted = self._accepted, True
            return not seen
        if kind == "image":
            seen = event.image.index in self._indices
            self._indices.add(event.image.index)
            return not seen
        if kind == "preview":
            # Previews of an image already delivered are stale after a re-attach.
            return event.preview.index not in self._indices
        return True

    def watch_request(self) -> pb.WatchJobRequest:
        return pb.WatchJobRequest(job_id=self._id, include_data=self._include_data)


class BatchReattach(_Retries):
    """The state of one batch stream: the items started and ended and the images the caller
    has, so a WatchBatch replay adds only what is new. A shutdown error without a batch id
    falls back to the id of the `accepted` event."""

    _metadata_key = "batch_id"

    def __init__(self, *, batch_id: str = "", attempts: int = MAX_ATTEMPTS) -> None:
        super().__init__(attempts)
        # A watch knows its batch before the first event: a cut before `accepted` resumes it.
        self._id = batch_id
        self._seen: set[tuple[str, str, int]] = set()

    def forward(self, event: pb.BatchEvent) -> bool:
        kind = event.WhichOneof("event")
        key: tuple[str, str, int]
        if kind == "accepted":
            self._id = event.accepted.batch_id
            key = (kind, "", 0)
        elif kind == "item_started":
            key = (kind, event.item_started.item_id, 0)
        elif kind == "image":
            key = (kind, event.image.item_id, event.image.image.index)
        elif kind == "item_ended":
            key = (kind, event.item_ended.item_id, 0)
        else:
            return True
        seen = key in self._seen
        self._seen.add(key)
        return not seen

    def watch_request(self) -> pb.WatchBatchRequest:
        return pb.WatchBatchRequest(batch_id=self._id)


def _unavailable(err: grpc.RpcError) -> bool:
    return isinstance(err, grpc.aio.AioRpcError | grpc.Call) and (
        err.code() == grpc.StatusCode.UNAVAILABLE
    )


def _shutdown(err: grpc.RpcError, metadata_key: str) -> tuple[bool, str]:
    """Whether `err` is SERVER_SHUTTING_DOWN, and the id its metadata names (or "")."""
    for detail in error_details(err):
        if isinstance(detail, error_details_pb2.ErrorInfo) and detail.reason == SHUTTING_DOWN:
            return True, str(detail.metadata.get(metadata_key, ""))
    return False, ""
