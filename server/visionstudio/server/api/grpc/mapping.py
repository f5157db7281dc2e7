"""Between the protobuf contract and the core's own types; nothing else knows the generated code."""

from __future__ import annotations

import json
from typing import TypeVar

from google.protobuf import timestamp_pb2
from visionstudio.image.v1 import image_service_pb2 as pb
from visionstudio.server.errors import InvalidArgument
from visionstudio.server.jobs.events import Accepted, ImageReady, JobEvent, Preview, Progress
from visionstudio.server.spec import (
    AspectRatio,
    Background,
    ImageSource,
    JobSpec,
    Operation,
    OutputFormat,
    Quality,
    Usage,
)
from visionstudio.server.store import JobRecord, JobStatus, UsageTotals

_RATIOS: dict[int, AspectRatio] = {
    pb.ASPECT_RATIO_1_1: AspectRatio.SQUARE,
    pb.ASPECT_RATIO_2_3: AspectRatio.PORTRAIT_2_3,
    pb.ASPECT_RATIO_3_2: AspectRatio.LANDSCAPE_3_2,
    pb.ASPECT_RATIO_3_4: AspectRatio.PORTRAIT_3_4,
    pb.ASPECT_RATIO_4_3: AspectRatio.LANDSCAPE_4_3,
    pb.ASPECT_RATIO_9_16: AspectRatio.PORTRAIT_9_16,
    pb.ASPECT_RATIO_16_9: AspectRatio.LANDSCAPE_16_9,
}
_QUALITIES: dict[int, Quality] = {
    pb.QUALITY_UNSPECIFIED: Quality.AUTO,
    pb.QUALITY_AUTO: Quality.AUTO,
    pb.QUALITY_LOW: Quality.LOW,
    pb.QUALITY_MEDIUM: Quality.MEDIUM,
    pb.QUALITY_HIGH: Quality.HIGH,
}
_BACKGROUNDS: dict[int, Background] = {
    pb.BACKGROUND_UNSPECIFIED: Background.AUTO,
    pb.BACKGROUND_AUTO: Background.AUTO,
    pb.BACKGROUND_TRANSPARENT: Background.TRANSPARENT,
    pb.BACKGROUND_OPAQUE: Background.OPAQUE,
}
_FORMATS: dict[int, OutputFormat] = {
    pb.OUTPUT_FORMAT_UNSPECIFIED: OutputFormat.PNG,
    pb.OUTPUT_FORMAT_PNG: OutputFormat.PNG,
    pb.OUTPUT_FORMAT_JPEG: OutputFormat.JPEG,
    pb.OUTPUT_FORMAT_WEBP: OutputFormat.WEBP,
}


T = TypeVar("T")


def _enum(table: dict[int, T], value: int, field: str) -> T:
    # proto3 enums are open: an unknown number arrives as a plain int.
    try:
        return table[value]
    except KeyError:
        raise InvalidArgument(field, f"unknown value {value}") from None


def _ratio(value: int) -> AspectRatio | None:
    if value == pb.ASPECT_RATIO_UNSPECIFIED:
        return None
    return _enum(_RATIOS, value, "aspect_ratio")


ImageRequest = pb.GenerateImageRequest | pb.EditImageRequest | pb.InpaintRequest
_OPERATIONS: dict[type[ImageRequest], Operation] = {
    pb.GenerateImageRequest: Operation.GENERATE,
    pb.EditImageRequest: Operation.EDIT,
    pb.InpaintRequest: Operation.INPAINT,
}


def _source(req: ImageRequest, oneof: str) -> ImageSource | None:
    """The `image` or `mask` oneof, on the requests that have it."""
    if oneof not in req.DESCRIPTOR.oneofs_by_name:
        return None
    # The stubs type WhichOneof per message; `oneof` was checked against the descriptor above.
    which: str | None = req.WhichOneof(oneof)  # type: ignore[arg-type, call-overload]
    if which is None:
        return None
    value = getattr(req, which)
    if isinstance(value, bytes):
        return ImageSource(field=which, data=value)
    return ImageSource(field=which, url=value)


def to_spec(req: ImageRequest) -> JobSpec:
    """The core's JobSpec; fields a request type does not have keep the spec's defaults."""
    return JobSpec(
        operation=_OPERATIONS[type(req)],
        prompt=req.prompt,
        number_of_images=req.number_of_images or 1,
        aspect_ratio=_ratio(getattr(req, "aspect_ratio", pb.ASPECT_RATIO_UNSPECIFIED)),
        quality=_enum(_QUALITIES, req.quality, "quality"),
        background=_enum(_BACKGROUNDS, getattr(req, "background", 0), "background"),
        output_format=_enum(_FORMATS, req.output_format, "output_format"),
        include_data=req.include_data,
        image=_source(req, "image"),
        mask=_source(req, "mask"),
        partial_images=getattr(req, "partial_images", 0),
        inpaint_border_only=getattr(req, "inpaint_border_only", False),
        border_percentage=getattr(req, "border_percentage", 0.0),
        idempotency_key=req.idempotency_key,
    )


_STATUSES: dict[JobStatus, pb.JobStatus.ValueType] = {
    JobStatus.RUNNING: pb.JOB_STATUS_RUNNING,
    JobStatus.SUCCEEDED: pb.JOB_STATUS_SUCCEEDED,
    JobStatus.PARTIAL: pb.JOB_STATUS_PARTIAL,
    JobStatus.FAILED: pb.JOB_STATUS_FAILED,
    JobStatus.CANCELLED: pb.JOB_STATUS_CANCELLED,
}
_STATUS_NAMES: dict[int, JobStatus] = {number: name for name, number in _STATUSES.items()}


def status_filter(value: int) -> JobStatus | None:
    if value == pb.JOB_STATUS_UNSPECIFIED:
        return None
    return _enum(_STATUS_NAMES, value, "status")


def seconds(stamp: timestamp_pb2.Timestamp, present: bool) -> float | None:
    return stamp.ToNanoseconds() / 1e9 if present else None


def stamp(at: float) -> timestamp_pb2.Timestamp:
    stamp = timestamp_pb2.Timestamp()
    stamp.FromNanoseconds(int(at * 1e9))
    return stamp


def to_job(job: JobRecord, images: list[ImageReady]) -> pb.Job:
    message = pb.Job(
        job_id=job.id,
        operation=job.rpc,
        status=_STATUSES.get(job.status, pb.JOB_STATUS_UNSPECIFIED),
        model=job.model,
        # UTF-8, not \u escapes: a page of long non-ASCII prompts stays a third of the size.
        parameters_json=json.dumps(job.params, sort_keys=True, ensure_ascii=False),
        number_of_images=job.number_of_images,
        usage=usage_message(job.usage or Usage()),
        error=job.error or "",
        create_time=stamp(job.created_at),
        update_time=stamp(job.updated_at),
        idempotency_key=job.idempotency_key or "",
    )
    for image in images:
        _describe(message.images.add(), image)
    return message


def to_usage(totals: UsageTotals) -> pb.GetUsageResponse:
    return pb.GetUsageResponse(
        jobs=totals.jobs, images=totals.images, usage=usage_message(totals.usage)
    )


def _describe(image: pb.Image, event: ImageReady) -> None:
    """Everything about the image but its bytes, set in place: a message passed to a
    constructor is copied, and with it a photo-sized image."""
    image.index = event.index
    image.url = event.url
    image.mime_type = event.mime_type
    image.width = event.width
    image.height = event.height
    image.image_id = event.image_id
    image.size_bytes = event.size_bytes


def usage_message(usage: Usage) -> pb.Usage:
    return pb.Usage(
        input_tokens=usage.input_tokens,
        input_text_tokens=usage.input_text_tokens,
        input_image_tokens=usage.input_image_tokens,
        output_tokens=usage.output_tokens,
        total_tokens=usage.total_tokens,
    )


# Room left in a message for what the transport adds around an event (framing, compression flag).
_MESSAGE_SLACK_BYTES = 1024
# The most the bytes field adds beyond the bytes: its tag and length, and the longer lengths of
# the messages around it.
_DATA_FIELD_BYTES = 16


def _image_event(event: ImageReady, max_bytes: int) -> pb.ImageEvent:
    """The image within the message limit: inline bytes that would overflow it are left out
    (its URL still loads them), flagged `data_omitted`, instead of ending a succeeded job's
    stream with RESOURCE_EXHAUSTED. Sized before the bytes go in, as ByteSize() encodes the
    whole message; the bytes are copied once, into the message."""
    message = pb.ImageEvent()
    _describe(message.image, event)
    if event.data is not None:
        size = message.ByteSize() + _DATA_FIELD_BYTES + len(event.data)
        if size > max_bytes - _MESSAGE_SLACK_BYTES:
            message.image.data_omitted = True
        else:
            message.image.data = event.data
    return message


def to_event(event: JobEvent, max_bytes: int) -> pb.ImageEvent:
    """The event as the stream sends it, no larger than `max_bytes`."""
    if isinstance(event, Accepted):
        return pb.ImageEvent(
            accepted=pb.JobAccepted(
                job_id=event.job_id, number_of_images=event.number_of_images, model=event.model
            )
        )
    if isinstance(event, ImageReady):
        return _image_event(event, max_bytes)
    if isinstance(event, Progress):
        return pb.ImageEvent(
            progress=pb.Progress(
                images_done=event.images_done,
                images_total=event.images_total,
                elapsed_ms=event.elapsed_ms,
            )
        )
    if isinstance(event, Preview):
        return pb.ImageEvent(
            preview=pb.Preview(
                index=event.index,
                partial_image_index=event.partial_image_index,
                data=event.data,
                mime_type=event.mime_type,
            )
        )
    return pb.ImageEvent(
        summary=pb.JobSummary(
            job_id=event.job_id,
            usage=usage_message(event.usage),
            images_delivered=event.images_delivered,
            elapsed_ms=event.elapsed_ms,
        )
    )
