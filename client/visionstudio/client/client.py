"""Typed clients for ImageService: `AsyncImageClient` (grpc.aio) and its synchronous twin."""

# Postponed annotations: grpc's and protobuf's classes are generic only in their type stubs.
from __future__ import annotations

import abc
from collections.abc import AsyncIterator, Iterator, Mapping
from types import TracebackType
from typing import TYPE_CHECKING, Generic, Self, TypeVar, cast

import grpc
from google.rpc import error_details_pb2, status_pb2
from grpc_status import rpc_status
from visionstudio.image.v1 import image_service_pb2 as pb
from visionstudio.image.v1 import image_service_pb2_grpc as pb_grpc

if TYPE_CHECKING:
    # Only the type stubs name the class of generated enums.
    from google.protobuf.internal.enum_type_wrapper import _EnumTypeWrapper

DEFAULT_TARGET = "localhost:50051"
# The server uses the same limits, so the largest image sent back with include_data fits.
MAX_MESSAGE_BYTES = 64 * 1024 * 1024

# Enum values spelled as the HTTP/JSON API spells them.
ASPECT_RATIOS: Mapping[str, pb.AspectRatio.ValueType] = {
    "1:1": pb.ASPECT_RATIO_1_1,
    "2:3": pb.ASPECT_RATIO_2_3,
    "3:2": pb.ASPECT_RATIO_3_2,
    "3:4": pb.ASPECT_RATIO_3_4,
    "4:3": pb.ASPECT_RATIO_4_3,
    "9:16": pb.ASPECT_RATIO_9_16,
    "16:9": pb.ASPECT_RATIO_16_9,
}
QUALITIES: Mapping[str, pb.Quality.ValueType] = {
    "auto": pb.QUALITY_AUTO,
    "low": pb.QUALITY_LOW,
    "medium": pb.QUALITY_MEDIUM,
    "high": pb.QUALITY_HIGH,
}
BACKGROUNDS: Mapping[str, pb.Background.ValueType] = {
    "auto": pb.BACKGROUND_AUTO,
    "transparent": pb.BACKGROUND_TRANSPARENT,
    "opaque": pb.BACKGROUND_OPAQUE,
}
OUTPUT_FORMATS: Mapping[str, pb.OutputFormat.ValueType] = {
    "png": pb.OUTPUT_FORMAT_PNG,
    "jpeg": pb.OUTPUT_FORMAT_JPEG,
    "webp": pb.OUTPUT_FORMAT_WEBP,
}

_API_KEY_METADATA = "x-api-key"
_CHANNEL_OPTIONS = (
    ("grpc.max_send_message_length", MAX_MESSAGE_BYTES),
    ("grpc.max_receive_message_length", MAX_MESSAGE_BYTES),
)

_Enum = TypeVar("_Enum", bound=int)
_Request = TypeVar("_Request")
_Events = TypeVar("_Events")


def _enum_value(
    argument: str,
    value: int | str | None,
    enum: _EnumTypeWrapper[_Enum],
    names: Mapping[str, _Enum],
) -> _Enum:
    """Maps a friendly string or a generated enum number to the enum; None means unspecified."""
    if isinstance(value, str):
        if value in names:
            return names[value]
        raise ValueError(f"unknown {argument} {value!r}; expected one of: {', '.join(names)}")
    number = 0 if value is None else value
    for known in enum.values():
        if known == number:
            return known
    raise ValueError(f"unknown {argument} value {value}; expected one of: {', '.join(names)}")


class _ImageClientBase(Generic[_Events], abc.ABC):
    """Builds requests from keyword arguments; subclasses send them (async or blocking)."""

    def __init__(self, api_key: str | None, timeout: float | None) -> None:
        self._metadata = ((_API_KEY_METADATA, api_key),) if api_key else ()
        self._timeout = timeout

    def _deadline(self, timeout: float | None) -> float | None:
        return self._timeout if timeout is None else timeout

    def generate(
        self,
        prompt: str,
        *,
        number_of_images: int = 0,
        aspect_ratio: int | str | None = None,
        quality: int | str | None = None,
        background: int | str | None = None,
        output_format: int | str | None = None,
        include_data: bool = False,
        timeout: float | None = None,
    ) -> _Events:
        """Streams the events of a GenerateImage call."""
        request = pb.GenerateImageRequest(
            prompt=prompt,
            number_of_images=number_of_images,
            aspect_ratio=_enum_value("aspect_ratio", aspect_ratio, pb.AspectRatio, ASPECT_RATIOS),
            quality=_enum_value("quality", quality, pb.Quality, QUALITIES),
            background=_enum_value("background", background, pb.Background, BACKGROUNDS),
            output_format=_enum_value(
                "output_format", output_format, pb.OutputFormat, OUTPUT_FORMATS
            ),
            include_data=include_data,
        )
        return self.generate_request(request, timeout=timeout)

    def edit(
        self,
        prompt: str,
        image: bytes | str,
        *,
        number_of_images: int = 0,
        aspect_ratio: int | str | None = None,
        quality: int | str | None = None,
        background: int | str | None = None,
        output_format: int | str | None = None,
        include_data: bool = False,
        timeout: float | None = None,
    ) -> _Events:
        """Streams the events of an EditImage call; a str `image` is a URL, bytes are the file."""
        request = pb.EditImageRequest(
            prompt=prompt,
            number_of_images=number_of_images,
            aspect_ratio=_enum_value("aspect_ratio", aspect_ratio, pb.AspectRatio, ASPECT_RATIOS),
            quality=_enum_value("quality", quality, pb.Quality, QUALITIES),
            background=_enum_value("background", background, pb.Background, BACKGROUNDS),
            output_format=_enum_value(
                "output_format", output_format, pb.OutputFormat, OUTPUT_FORMATS
            ),
            include_data=include_data,
        )
        if isinstance(image, str):
            request.image_url = image
        else:
            request.image_file = image
        return self.edit_request(request, timeout=timeout)

    def inpaint(
        self,
        prompt: str,
        image: bytes | str,
        *,
        mask: bytes | str | None = None,
        inpaint_border_only: bool = False,
        border_percentage: float = 0.0,
        number_of_images: int = 0,
        quality: int | str | None = None,
        output_format: int | str | None = None,
        include_data: bool = False,
        timeout: float | None = None,
    ) -> _Events:
        """Streams the events of an Inpaint call; str `image`/`mask` are URLs, bytes the files."""
        request = pb.InpaintRequest(
            prompt=prompt,
            inpaint_border_only=inpaint_border_only,
            border_percentage=border_percentage,
            number_of_images=number_of_images,
            quality=_enum_value("quality", quality, pb.Quality, QUALITIES),
            output_format=_enum_value(
                "output_format", output_format, pb.OutputFormat, OUTPUT_FORMATS
            ),
            include_data=include_data,
        )
        if isinstance(image, str):
            request.image_url = image
        else:
            request.image_file = image
        if isinstance(mask, str):
            request.mask_url = mask
        elif mask is not None:
            request.mask_file = mask
        return self.inpaint_request(request, timeout=timeout)

    @abc.abstractmethod
    def generate_request(
        self, request: pb.GenerateImageRequest, *, timeout: float | None = None
    ) -> _Events:
        """Streams the events of a GenerateImage call for a prebuilt request."""

    @abc.abstractmethod
    def edit_request(
        self, request: pb.EditImageRequest, *, timeout: float | None = None
    ) -> _Events:
        """Streams the events of an EditImage call for a prebuilt request."""

    @abc.abstractmethod
    def inpaint_request(
        self, request: pb.InpaintRequest, *, timeout: float | None = None
    ) -> _Events:
        """Streams the events of an Inpaint call for a prebuilt request."""


class AsyncImageClient(_ImageClientBase[AsyncIterator[pb.ImageEvent]]):
    """ImageService client on a grpc.aio channel; use `async with` or call `close()`.

    The methods return async iterators that start the call on first iteration and yield each
    event as it arrives. `timeout` is the default deadline of every call, in seconds.
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
        super().__init__(api_key, timeout)
        if secure:
            credentials = grpc.ssl_channel_credentials(root_certificates)
            self._channel = grpc.aio.secure_channel(target, credentials, _CHANNEL_OPTIONS)
        else:
            _refuse_plaintext_certificates(root_certificates)
            self._channel = grpc.aio.insecure_channel(target, _CHANNEL_OPTIONS)
        self._stub = pb_grpc.ImageServiceStub(self._channel)

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

    def generate_request(
        self, request: pb.GenerateImageRequest, *, timeout: float | None = None
    ) -> AsyncIterator[pb.ImageEvent]:
        return self._stream(self._stub.GenerateImage, request, self._deadline(timeout))

    def edit_request(
        self, request: pb.EditImageRequest, *, timeout: float | None = None
    ) -> AsyncIterator[pb.ImageEvent]:
        return self._stream(self._stub.EditImage, request, self._deadline(timeout))

    def inpaint_request(
        self, request: pb.InpaintRequest, *, timeout: float | None = None
    ) -> AsyncIterator[pb.ImageEvent]:
        return self._stream(self._stub.Inpaint, request, self._deadline(timeout))

    def watch(
        self, job_id: str, *, include_data: bool = False, timeout: float | None = None
    ) -> AsyncIterator[pb.ImageEvent]:
        """Re-attaches to a job: its images so far, then the rest as they finish."""
        request = pb.WatchJobRequest(job_id=job_id, include_data=include_data)
        return self._stream(self._stub.WatchJob, request, self._deadline(timeout))

    def get_job(
        self, job_id: str, *, timeout: float | None = None
    ) -> grpc.aio.UnaryUnaryCall[pb.GetJobRequest, pb.Job]:
        return self._stub.GetJob(
            pb.GetJobRequest(job_id=job_id),
            timeout=self._deadline(timeout),
            metadata=self._metadata,
        )

    def list_jobs(
        self, *, page_size: int = 0, page_token: str = "", timeout: float | None = None
    ) -> grpc.aio.UnaryUnaryCall[pb.ListJobsRequest, pb.ListJobsResponse]:
        return self._stub.ListJobs(
            pb.ListJobsRequest(page_size=page_size, page_token=page_token),
            timeout=self._deadline(timeout),
            metadata=self._metadata,
        )

    def usage(
        self, *, timeout: float | None = None
    ) -> grpc.aio.UnaryUnaryCall[pb.GetUsageRequest, pb.GetUsageResponse]:
        return self._stub.GetUsage(
            pb.GetUsageRequest(), timeout=self._deadline(timeout), metadata=self._metadata
        )

    async def _stream(
        self,
        method: grpc.aio.UnaryStreamMultiCallable[_Request, pb.ImageEvent],
        request: _Request,
        deadline: float | None,
    ) -> AsyncIterator[pb.ImageEvent]:
        call = method(request, timeout=deadline, metadata=self._metadata)
        try:
            async for event in call:
                yield event
        finally:
            # Stop the stream at once when the caller stops iterating early (whether the job
            # itself goes on is the server's setting).
            call.cancel()


class ImageClient(_ImageClientBase[Iterator[pb.ImageEvent]]):
    """Blocking ImageService client; the same API as `AsyncImageClient` with plain iterators."""

    def __init__(
        self,
        target: str = DEFAULT_TARGET,
        api_key: str | None = None,
        *,
        secure: bool = False,
        root_certificates: bytes | None = None,
        timeout: float | None = None,
    ) -> None:
        super().__init__(api_key, timeout)
        if secure:
            credentials = grpc.ssl_channel_credentials(root_certificates)
            self._channel = grpc.secure_channel(target, credentials, _CHANNEL_OPTIONS)
        else:
            _refuse_plaintext_certificates(root_certificates)
            self._channel = grpc.insecure_channel(target, _CHANNEL_OPTIONS)
        self._stub = pb_grpc.ImageServiceStub(self._channel)

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

    def generate_request(
        self, request: pb.GenerateImageRequest, *, timeout: float | None = None
    ) -> Iterator[pb.ImageEvent]:
        return self._stream(self._stub.GenerateImage, request, self._deadline(timeout))

    def edit_request(
        self, request: pb.EditImageRequest, *, timeout: float | None = None
    ) -> Iterator[pb.ImageEvent]:
        return self._stream(self._stub.EditImage, request, self._deadline(timeout))

    def inpaint_request(
        self, request: pb.InpaintRequest, *, timeout: float | None = None
    ) -> Iterator[pb.ImageEvent]:
        return self._stream(self._stub.Inpaint, request, self._deadline(timeout))

    def watch(
        self, job_id: str, *, include_data: bool = False, timeout: float | None = None
    ) -> Iterator[pb.ImageEvent]:
        """Re-attaches to a job: its images so far, then the rest as they finish."""
        request = pb.WatchJobRequest(job_id=job_id, include_data=include_data)
        return self._stream(self._stub.WatchJob, request, self._deadline(timeout))

    def get_job(self, job_id: str, *, timeout: float | None = None) -> pb.Job:
        return self._stub.GetJob(
            pb.GetJobRequest(job_id=job_id),
            timeout=self._deadline(timeout),
            metadata=self._metadata,
        )

    def list_jobs(
        self, *, page_size: int = 0, page_token: str = "", timeout: float | None = None
    ) -> pb.ListJobsResponse:
        return self._stub.ListJobs(
            pb.ListJobsRequest(page_size=page_size, page_token=page_token),
            timeout=self._deadline(timeout),
            metadata=self._metadata,
        )

    def usage(self, *, timeout: float | None = None) -> pb.GetUsageResponse:
        return self._stub.GetUsage(
            pb.GetUsageRequest(), timeout=self._deadline(timeout), metadata=self._metadata
        )

    def _stream(
        self,
        method: grpc.UnaryStreamMultiCallable[_Request, pb.ImageEvent],
        request: _Request,
        deadline: float | None,
    ) -> Iterator[pb.ImageEvent]:
        call = method(request, timeout=deadline, metadata=self._metadata)
        try:
            yield from call
        finally:
            # Stop the stream at once when the caller stops iterating early (whether the job
            # itself goes on is the server's setting).
            call.cancel()


def _refuse_plaintext_certificates(root_certificates: bytes | None) -> None:
    # Certificates without `secure` signal a caller who expects TLS; never fall back silently.
    if root_certificates is not None:
        raise ValueError("root_certificates needs secure=True")


def describe_error(err: grpc.RpcError) -> str:
    """One readable line for a failed call: status code, message and any rich error details.

    Decodes the `google.rpc.Status` details the server attaches (BadRequest field violations,
    ErrorInfo reason, RetryInfo delay), e.g.
    `INVALID_ARGUMENT: invalid request (prompt: must not be empty; reason: PROMPT_EMPTY)`.
    """
    if not isinstance(err, grpc.aio.AioRpcError | grpc.Call):
        # Only errors raised by a call carry a status; a bare RpcError has nothing more to say.
        return str(err) or type(err).__name__
    message = err.details()
    text = f"{err.code().name}: {message}" if message else err.code().name
    try:
        # AioRpcError offers the same synchronous accessors of grpc.Call that from_call reads.
        status: status_pb2.Status | None = rpc_status.from_call(cast(grpc.Call, err))
    except ValueError:
        # Details that contradict the call's own code or message are not to be trusted.
        status = None
    parts = _describe_details(status) if status is not None else []
    # Leave out what the message or the code already says.
    parts = [p for p in parts if p not in (message or "") and p != f"reason: {err.code().name}"]
    return f"{text} ({'; '.join(parts)})" if parts else text


def _describe_details(status: status_pb2.Status) -> list[str]:
    parts: list[str] = []
    for detail in status.details:
        bad_request = error_details_pb2.BadRequest()
        error_info = error_details_pb2.ErrorInfo()
        retry_info = error_details_pb2.RetryInfo()
        if detail.Unpack(bad_request):
            parts.extend(f"{v.field}: {v.description}" for v in bad_request.field_violations)
        elif detail.Unpack(error_info):
            parts.append(f"reason: {error_info.reason}")
        elif detail.Unpack(retry_info):
            delay = retry_info.retry_delay.ToTimedelta().total_seconds()
            parts.append(f"retry after {delay:g}s")
    return parts
