"""Re-attaching to a job whose stream a server cut while shutting down.

A server that stops ends its open streams with UNAVAILABLE, ErrorInfo reason
`SERVER_SHUTTING_DOWN` and the job id in the metadata; the job itself goes on (in another replica,
or once the server is back). The clients then continue with WatchJob, which replays the job's
accepted event and stored images: those the caller already has are dropped, so the caller sees
one stream as if nothing had happened.
"""

# Postponed annotations: grpc's classes are generic only in their type stubs.
from __future__ import annotations

import grpc
from google.rpc import error_details_pb2
from visionstudio.client.errors import error_details
from visionstudio.image.v1 import image_service_pb2 as pb

SHUTTING_DOWN = "SERVER_SHUTTING_DOWN"
# Enough to ride out a rolling restart; a server that stays away is reported, not waited for.
MAX_ATTEMPTS = 5
FIRST_DELAY_S = 0.2
MAX_DELAY_S = 5.0


class Reattach:
    """The state of one logical stream: what the caller has seen, and whether to go on."""

    def __init__(self, *, include_data: bool, attempts: int = MAX_ATTEMPTS) -> None:
        self._include_data = include_data
        self._attempts_left = attempts
        self._delay_s = FIRST_DELAY_S
        self._job_id = ""
        self._accepted = False
        self._indices: set[int] = set()
        self._resumed = False

    def forward(self, event: pb.ImageEvent) -> bool:
        """Whether the caller should see `event`: not the replayed `accepted` or images."""
        kind = event.WhichOneof("event")
        if kind == "accepted":
            self._job_id = event.accepted.job_id
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

    def retry_after(self, err: grpc.RpcError) -> float | None:
        """Seconds to wait before WatchJob, or None when `err` is the caller's to see."""
        if self._attempts_left <= 0 or not _unavailable(err):
            return None
        shutdown, job_id = _shutdown(err)
        self._job_id = job_id or self._job_id
        # A first failure that is not a shutdown: nothing says the job survives it. Once
        # re-attaching, UNAVAILABLE is the restarting server, worth another try.
        if not (shutdown or self._resumed) or not self._job_id:
            return None
        self._attempts_left -= 1
        self._resumed = True
        delay, self._delay_s = self._delay_s, min(self._delay_s * 2, MAX_DELAY_S)
        return delay

    def watch_request(self) -> pb.WatchJobRequest:
        return pb.WatchJobRequest(job_id=self._job_id, include_data=self._include_data)


def _unavailable(err: grpc.RpcError) -> bool:
    return isinstance(err, grpc.aio.AioRpcError | grpc.Call) and (
        err.code() == grpc.StatusCode.UNAVAILABLE
    )


def _shutdown(err: grpc.RpcError) -> tuple[bool, str]:
    """Whether `err` is SERVER_SHUTTING_DOWN, and the job id its metadata names (or "")."""
    for detail in error_details(err):
        if isinstance(detail, error_details_pb2.ErrorInfo) and detail.reason == SHUTTING_DOWN:
            return True, str(detail.metadata.get("job_id", ""))
    return False, ""
