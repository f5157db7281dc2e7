"""The calls of ImageService, described once for the async and the blocking client.

Each client supplies its stub and how a stream is iterated; everything else (building requests,
metadata, deadlines) is written here once, so the two clients cannot drift apart.
"""

import abc
import os
from collections.abc import Callable
from datetime import datetime
from functools import partial
from typing import Generic, Protocol, TypedDict, TypeVar, Unpack

import grpc
from google.protobuf import timestamp_pb2
from visionstudio.client import requests
from visionstudio.client.channel import DEFAULT_TARGET, Metadata, api_key_metadata, credentials
from visionstudio.client.options import JOB_STATUSES, ImageOptions, SceneOptions, enum_value
from visionstudio.client.reattach import Reattach
from visionstudio.image.v1 import image_service_pb2 as pb

TARGET_VARIABLE = "VISIONSTUDIO_TARGET"
API_KEY_VARIABLE = "VISIONSTUDIO_API_KEY"
# A point in time: a datetime (naive means local time) or seconds since the epoch.
Moment = datetime | float

_Request = TypeVar("_Request", contravariant=True)
_Response = TypeVar("_Response", covariant=True)
_Message = TypeVar("_Message")
# What the stub returns for a stream, what the client hands back for it, and what it returns
# for each unary call: an awaitable call on grpc.aio, the message itself on a blocking channel.
_Stream = TypeVar("_Stream")
_Stream_co = TypeVar("_Stream_co", covariant=True)
_Events = TypeVar("_Events")
_Job = TypeVar("_Job", covariant=True)
_JobList = TypeVar("_JobList", covariant=True)
_Usage = TypeVar("_Usage", covariant=True)


class Rpc(Protocol[_Request, _Response]):
    """A generated method as the clients call it."""

    def __call__(
        self, request: _Request, *, timeout: float | None = ..., metadata: Metadata | None = ...
    ) -> _Response: ...


class CallOptions(TypedDict):
    timeout: float | None
    metadata: Metadata


class Stub(Protocol[_Stream_co, _Job, _JobList, _Usage]):
    """The generated stub as the clients use it, on either kind of channel."""

    @property
    def GenerateImage(self) -> Rpc[pb.GenerateImageRequest, _Stream_co]: ...
    @property
    def EditImage(self) -> Rpc[pb.EditImageRequest, _Stream_co]: ...
    @property
    def Inpaint(self) -> Rpc[pb.InpaintRequest, _Stream_co]: ...
    @property
    def WatchJob(self) -> Rpc[pb.WatchJobRequest, _Stream_co]: ...
    @property
    def GetJob(self) -> Rpc[pb.GetJobRequest, _Job]: ...
    @property
    def ListJobs(self) -> Rpc[pb.ListJobsRequest, _JobList]: ...
    @property
    def GetUsage(self) -> Rpc[pb.GetUsageRequest, _Usage]: ...
    @property
    def CancelJob(self) -> Rpc[pb.CancelJobRequest, _Job]: ...


class ImageCalls(Generic[_Stream, _Events, _Job, _JobList, _Usage], abc.ABC):
    """The client API over a stub; subclasses open the channel and iterate the streams.

    `target` is the server's host:port (default `$VISIONSTUDIO_TARGET`, else localhost:50051);
    `api_key` defaults to `$VISIONSTUDIO_API_KEY`; `secure` asks for TLS (with
    `root_certificates`, or the system's); `timeout` is the default deadline of every call, in
    seconds. A stream cut by a server shutting down continues with WatchJob on its own (at most
    `reattach_attempts` times), without repeating events the caller already has.
    """

    def __init__(
        self,
        target: str | None = None,
        api_key: str | None = None,
        *,
        secure: bool = False,
        root_certificates: bytes | None = None,
        timeout: float | None = None,
        reattach_attempts: int = 5,
    ) -> None:
        target = target or os.environ.get(TARGET_VARIABLE) or DEFAULT_TARGET
        self._stub = self._connect(target, credentials(secure, root_certificates))
        self._metadata = api_key_metadata(api_key or os.environ.get(API_KEY_VARIABLE))
        self._timeout = timeout
        self._reattach_attempts = reattach_attempts

    def generate(self, prompt: str, **options: Unpack[SceneOptions]) -> _Events:
        """Streams the events of a GenerateImage call."""
        request = requests.generate_request(prompt, **options)
        return self.generate_request(request, timeout=options.get("timeout"))

    def edit(self, prompt: str, image: bytes | str, **options: Unpack[SceneOptions]) -> _Events:
        """Streams the events of an EditImage call; a str `image` is a URL, bytes are the file."""
        request = requests.edit_request(prompt, image, **options)
        return self.edit_request(request, timeout=options.get("timeout"))

    def inpaint(
        self,
        prompt: str,
        image: bytes | str,
        *,
        mask: bytes | str | None = None,
        inpaint_border_only: bool = False,
        border_percentage: float = 0.0,
        **options: Unpack[ImageOptions],
    ) -> _Events:
        """Streams the events of an Inpaint call; str `image`/`mask` are URLs, bytes the files."""
        request = requests.inpaint_request(
            prompt,
            image,
            mask=mask,
            inpaint_border_only=inpaint_border_only,
            border_percentage=border_percentage,
            **options,
        )
        return self.inpaint_request(request, timeout=options.get("timeout"))

    def generate_request(
        self, request: pb.GenerateImageRequest, *, timeout: float | None = None
    ) -> _Events:
        """Streams the events of a GenerateImage call for a prebuilt request."""
        return self._stream(self._stub.GenerateImage, request, timeout)

    def edit_request(
        self, request: pb.EditImageRequest, *, timeout: float | None = None
    ) -> _Events:
        """Streams the events of an EditImage call for a prebuilt request."""
        return self._stream(self._stub.EditImage, request, timeout)

    def inpaint_request(
        self, request: pb.InpaintRequest, *, timeout: float | None = None
    ) -> _Events:
        """Streams the events of an Inpaint call for a prebuilt request."""
        return self._stream(self._stub.Inpaint, request, timeout)

    def watch(
        self, job_id: str, *, include_data: bool = False, timeout: float | None = None
    ) -> _Events:
        """Re-attaches to a job: its images so far, then the rest as they finish."""
        request = pb.WatchJobRequest(job_id=job_id, include_data=include_data)
        return self._stream(self._stub.WatchJob, request, timeout)

    def get_job(self, job_id: str, *, timeout: float | None = None) -> _Job:
        return self._stub.GetJob(pb.GetJobRequest(job_id=job_id), **self._call_options(timeout))

    def cancel(self, job_id: str, *, timeout: float | None = None) -> _Job:
        """Stops one of the caller's jobs (stored images are kept); a finished job comes back
        unchanged."""
        request = pb.CancelJobRequest(job_id=job_id)
        return self._stub.CancelJob(request, **self._call_options(timeout))

    def list_jobs(
        self,
        *,
        status: int | str | None = None,
        created_after: Moment | None = None,
        created_before: Moment | None = None,
        page_size: int = 0,
        page_token: str = "",
        timeout: float | None = None,
    ) -> _JobList:
        """A page of the caller's jobs, newest first; `status` is e.g. "running" or None (all)."""
        request = pb.ListJobsRequest(
            page_size=page_size,
            page_token=page_token,
            status=enum_value("status", status, pb.JobStatus, JOB_STATUSES),
            created_after=_timestamp(created_after),
            created_before=_timestamp(created_before),
        )
        return self._stub.ListJobs(request, **self._call_options(timeout))

    def usage(
        self,
        *,
        start_time: Moment | None = None,
        end_time: Moment | None = None,
        timeout: float | None = None,
    ) -> _Usage:
        """Jobs, images and tokens of the jobs created in [start_time, end_time)."""
        request = pb.GetUsageRequest(
            start_time=_timestamp(start_time), end_time=_timestamp(end_time)
        )
        return self._stub.GetUsage(request, **self._call_options(timeout))

    @abc.abstractmethod
    def _connect(
        self, target: str, tls: grpc.ChannelCredentials | None
    ) -> Stub[_Stream, _Job, _JobList, _Usage]:
        """Opens the channel (the subclass keeps it, to close it) and returns a stub on it."""

    @abc.abstractmethod
    def _iterate(
        self,
        start: Callable[[], _Stream],
        reattach: Reattach,
        watch: Callable[[pb.WatchJobRequest], _Stream],
    ) -> _Events:
        """Starts the stream on first iteration; cancels it when the caller stops early.

        When a call fails and `reattach.retry_after` gives a delay, waits that long and goes on
        with `watch(reattach.watch_request())`, forwarding only what `reattach.forward` allows.
        """

    def _stream(
        self,
        rpc: Rpc[_Message, _Stream],
        request: _Message,
        timeout: float | None,
    ) -> _Events:
        options = self._call_options(timeout)
        include_data = bool(getattr(request, "include_data", False))
        reattach = Reattach(include_data=include_data, attempts=self._reattach_attempts)
        watch = partial(self._stub.WatchJob, **options)
        return self._iterate(partial(rpc, request, **options), reattach, watch)

    def _call_options(self, timeout: float | None) -> CallOptions:
        return {
            "timeout": self._timeout if timeout is None else timeout,
            "metadata": self._metadata,
        }


def _timestamp(moment: Moment | None) -> timestamp_pb2.Timestamp | None:
    if moment is None:
        return None
    stamp = timestamp_pb2.Timestamp()
    if isinstance(moment, datetime):
        stamp.FromDatetime(moment.astimezone())
    else:
        stamp.FromNanoseconds(round(moment * 1e9))
    return stamp
