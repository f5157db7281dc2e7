"""The calls of ImageService, described once for the async and the blocking client.

Each client supplies its stub and how a stream is iterated; everything else (building requests,
metadata, deadlines) is written here once, so the two clients cannot drift apart.
"""

import abc
from collections.abc import Callable
from functools import partial
from typing import Generic, Protocol, TypedDict, TypeVar, Unpack

import grpc
from visionstudio.client import requests
from visionstudio.client.channel import DEFAULT_TARGET, Metadata, api_key_metadata, credentials
from visionstudio.client.options import ImageOptions, SceneOptions
from visionstudio.image.v1 import image_service_pb2 as pb

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


class _Rpc(Protocol[_Request, _Response]):
    def __call__(
        self, request: _Request, *, timeout: float | None = ..., metadata: Metadata | None = ...
    ) -> _Response: ...


class _CallOptions(TypedDict):
    timeout: float | None
    metadata: Metadata


class Stub(Protocol[_Stream_co, _Job, _JobList, _Usage]):
    """The generated stub as the clients use it, on either kind of channel."""

    @property
    def GenerateImage(self) -> _Rpc[pb.GenerateImageRequest, _Stream_co]: ...
    @property
    def EditImage(self) -> _Rpc[pb.EditImageRequest, _Stream_co]: ...
    @property
    def Inpaint(self) -> _Rpc[pb.InpaintRequest, _Stream_co]: ...
    @property
    def WatchJob(self) -> _Rpc[pb.WatchJobRequest, _Stream_co]: ...
    @property
    def GetJob(self) -> _Rpc[pb.GetJobRequest, _Job]: ...
    @property
    def ListJobs(self) -> _Rpc[pb.ListJobsRequest, _JobList]: ...
    @property
    def GetUsage(self) -> _Rpc[pb.GetUsageRequest, _Usage]: ...


class ImageCalls(Generic[_Stream, _Events, _Job, _JobList, _Usage], abc.ABC):
    """The client API over a stub; subclasses open the channel and iterate the streams.

    `target` is the server's host:port; `secure` asks for TLS (with `root_certificates`, or the
    system's); `timeout` is the default deadline of every call, in seconds.
    """

    def __init__(
        self,
        target: str = DEFAULT_TARGET,
        api_key: str | None = None,
        *,
        secure: bool = False,
        root_certificates: bytes | None = None,
        timeout: float | None = None,
    ) -> None:
        self._stub = self._connect(target, credentials(secure, root_certificates))
        self._metadata = api_key_metadata(api_key)
        self._timeout = timeout

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

    def list_jobs(
        self, *, page_size: int = 0, page_token: str = "", timeout: float | None = None
    ) -> _JobList:
        request = pb.ListJobsRequest(page_size=page_size, page_token=page_token)
        return self._stub.ListJobs(request, **self._call_options(timeout))

    def usage(self, *, timeout: float | None = None) -> _Usage:
        return self._stub.GetUsage(pb.GetUsageRequest(), **self._call_options(timeout))

    @abc.abstractmethod
    def _connect(
        self, target: str, tls: grpc.ChannelCredentials | None
    ) -> Stub[_Stream, _Job, _JobList, _Usage]:
        """Opens the channel (the subclass keeps it, to close it) and returns a stub on it."""

    @abc.abstractmethod
    def _iterate(self, start: Callable[[], _Stream]) -> _Events:
        """Starts the stream on first iteration; cancels it when the caller stops early."""

    def _stream(
        self, rpc: _Rpc[_Message, _Stream], request: _Message, timeout: float | None
    ) -> _Events:
        return self._iterate(partial(rpc, request, **self._call_options(timeout)))

    def _call_options(self, timeout: float | None) -> _CallOptions:
        return {
            "timeout": self._timeout if timeout is None else timeout,
            "metadata": self._metadata,
        }
