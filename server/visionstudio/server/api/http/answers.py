"""The answers of the reference JSON API: models (the OpenAPI document is built from them) and
their mapping from the core's events."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Literal

import orjson
import pybase64
from pydantic import BaseModel, Field
from pydantic.json_schema import SkipJsonSchema
from visionstudio.server.errors import InvalidArgument, ServiceError
from visionstudio.server.jobs.events import Accepted, Finished, ImageReady, Preview
from visionstudio.server.spec import Usage


def _omitted_when_none(description: str) -> Any:
    """An answer field left out (never null) when it does not apply."""

    def drop_default(schema: dict[str, Any]) -> None:
        del schema["default"]

    return Field(default=None, description=description, json_schema_extra=drop_default)


class Image(BaseModel):
    """A finished, stored image."""

    index: int = Field(description="0-based position of the image in the request.")
    url: str = Field(description="Where the image loads (signed; works in a browser).")
    image_id: str = Field(description="Unguessable id of the stored image.")
    width: int
    height: int
    mime_type: str = Field(description="image/png, image/jpeg or image/webp.")
    size_bytes: int
    data: str | SkipJsonSchema[None] = _omitted_when_none(
        "The encoded image, base64; only with `include_data`."
    )


class TokenUsage(BaseModel):
    """Tokens the provider charged, summed over the job's upstream calls."""

    input_tokens: int
    input_text_tokens: int
    input_image_tokens: int
    output_tokens: int = Field(description="All output tokens are image tokens.")
    total_tokens: int


class JobResult(BaseModel):
    job_id: str
    model: str = Field(description="The upstream model that rendered the images.")
    images: list[Image] = Field(description="Sorted by index.")
    usage: TokenUsage


class SuccessResponse(BaseModel):
    success: Literal[True]
    data: JobResult


class FieldViolation(BaseModel):
    field: str = Field(description="The request key at fault (`body` for the whole body).")
    description: str


class ErrorDetails(BaseModel):
    field_violations: list[FieldViolation]
    metadata: dict[str, str] = Field(
        description="E.g. `job_id` and `failed_indices` when some images of a job failed."
    )
    retry_after_s: float | SkipJsonSchema[None] = _omitted_when_none(
        "When waiting helps: seconds to wait (also sent as `Retry-After`)."
    )


class Error(BaseModel):
    code: str = Field(description="The gRPC status name, e.g. INVALID_ARGUMENT.")
    reason: str = Field(description="Why, e.g. RATE_LIMITED or CONTENT_POLICY_VIOLATION.")
    details: ErrorDetails


class PartialResult(BaseModel):
    """What a failed job still delivered: those images are stored and paid for."""

    job_id: str
    images: list[Image] = Field(description="Sorted by index.")


class ErrorResponse(BaseModel):
    success: Literal[False]
    message: str
    error: Error
    data: PartialResult | SkipJsonSchema[None] = _omitted_when_none(
        "What the job delivered before it failed; present once the job had started."
    )


class AcceptedEvent(BaseModel):
    """Server-sent event `accepted`: the first event of a stream."""

    job_id: str
    number_of_images: int
    model: str


class SummaryEvent(BaseModel):
    """Server-sent event `summary`: the last event of a successful stream."""

    job_id: str
    usage: TokenUsage
    images_delivered: int
    elapsed_ms: int


class PreviewEvent(BaseModel):
    """Server-sent event `preview`: a partial rendering of one image, with `partial_images`."""

    index: int = Field(description="0-based position of the image it previews.")
    partial_image_index: int = Field(description="0-based number of this preview for that image.")
    mime_type: str
    data: str = Field(description="The encoded preview, base64.")


def _dump(model: BaseModel) -> dict[str, Any]:
    return model.model_dump(mode="json", exclude_none=True)


def image_model(event: ImageReady) -> Image:
    return Image(
        index=event.index,
        url=event.url,
        image_id=event.image_id,
        width=event.width,
        height=event.height,
        mime_type=event.mime_type,
        size_bytes=event.size_bytes,
        data=_b64(event.data) if event.data is not None else None,
    )


def _b64(data: bytes) -> str:
    # A SIMD encoder: a photo-sized image is ~4 MB of base64.
    return pybase64.b64encode(data).decode("ascii")


def _images(events: Sequence[ImageReady]) -> list[Image]:
    return [image_model(e) for e in sorted(events, key=lambda e: e.index)]


def token_usage(usage: Usage) -> TokenUsage:
    return TokenUsage(
        input_tokens=usage.input_tokens,
        input_text_tokens=usage.input_text_tokens,
        input_image_tokens=usage.input_image_tokens,
        output_tokens=usage.output_tokens,
        total_tokens=usage.total_tokens,
    )


def image_json(event: ImageReady) -> dict[str, Any]:
    return _dump(image_model(event))


def preview_json(event: Preview) -> dict[str, Any]:
    return _dump(
        PreviewEvent(
            index=event.index,
            partial_image_index=event.partial_image_index,
            mime_type=event.mime_type,
            data=_b64(event.data),
        )
    )


def accepted_json(event: Accepted) -> dict[str, Any]:
    return _dump(
        AcceptedEvent(
            job_id=event.job_id, number_of_images=event.number_of_images, model=event.model
        )
    )


def summary_json(event: Finished) -> dict[str, Any]:
    return _dump(
        SummaryEvent(
            job_id=event.job_id,
            usage=token_usage(event.usage),
            images_delivered=event.images_delivered,
            elapsed_ms=event.elapsed_ms,
        )
    )


def success_json(
    accepted: Accepted, images: Sequence[ImageReady], finished: Finished
) -> dict[str, Any]:
    result = JobResult(
        job_id=accepted.job_id,
        model=accepted.model,
        images=_images(images),
        usage=token_usage(finished.usage),
    )
    return _dump(SuccessResponse(success=True, data=result))


def success_body(accepted: Accepted, images: Sequence[ImageReady], finished: Finished) -> bytes:
    """The encoded success answer: megabytes with `include_data`, so callers run it in a
    worker thread, where orjson writes the base64 strings without json's escaping scan."""
    return orjson.dumps(success_json(accepted, images, finished))


def error_json(
    error: ServiceError, job: Accepted | None = None, images: Sequence[ImageReady] = ()
) -> dict[str, Any]:
    violations = (
        [FieldViolation(field=v.field, description=v.description) for v in error.violations]
        if isinstance(error, InvalidArgument)
        else []
    )
    body = ErrorResponse(
        success=False,
        message=error.message,
        error=Error(
            code=error.code.name,
            reason=error.reason,
            details=ErrorDetails(
                field_violations=violations,
                metadata=error.metadata,
                retry_after_s=error.retry_after_s,
            ),
        ),
        data=PartialResult(job_id=job.job_id, images=_images(images)) if job else None,
    )
    return _dump(body)
