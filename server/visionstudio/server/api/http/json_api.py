"""The reference API's JSON surface: request and answer models, their mapping to the core's
types, and the OpenAPI document, which is generated from these same models.

This module checks JSON shape only (keys, types, spellings). Every rule about values (prompt
length, image count, border range, transparent needs PNG...) lives in `validation.py`, which
`ImageStudio.run` applies to both surfaces.
"""

from __future__ import annotations

import base64
import binascii
import functools
import re
from abc import abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, PlainValidator, ValidationError, WithJsonSchema
from pydantic.json_schema import SkipJsonSchema, models_json_schema
from pydantic_core import ErrorDetails as PydanticError
from pydantic_core import PydanticCustomError
from visionstudio.server.errors import FieldViolation as Violation
from visionstudio.server.errors import InvalidArgument, ServiceError
from visionstudio.server.jobs.events import Accepted, Finished, ImageReady
from visionstudio.server.jobs.spec import (
    BORDER_RANGE,
    MAX_IMAGES,
    MAX_PROMPT_CHARS,
    AspectRatio,
    Background,
    ImageSource,
    JobSpec,
    Operation,
    OutputFormat,
    Quality,
    Usage,
)

API_PREFIX = "/api/v1/openai"
OPENAPI_PATH = f"{API_PREFIX}/openapi.json"
EVENT_STREAM = "text/event-stream"
# A comment line this often keeps proxies from closing a stream that waits on a slow image.
KEEPALIVE_S = 15.0
# Names the whole body in field violations (for JSON that is not an object of known keys).
BODY = "body"

# ---------------------------------------------------------------------------------------------
# Request bodies


_RATIOS = {r.label: r for r in AspectRatio}
_DATA_URL_PREFIX = re.compile(r"data:[^,]*;base64,", re.IGNORECASE)


def _aspect_ratio(value: object) -> AspectRatio | None:
    if value is None:
        return None
    if isinstance(value, str) and value in _RATIOS:
        return _RATIOS[value]
    expected = ", ".join(f"'{label}'" for label in _RATIOS)
    raise PydanticCustomError("enum", "Input should be one of {expected}", {"expected": expected})


def _base64_file(value: object) -> bytes | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise PydanticCustomError("string_type", "Input should be a base64 string")
    prefix = _DATA_URL_PREFIX.match(value)
    if prefix:
        value = value[prefix.end() :]
    try:
        # Whitespace is dropped first: encoders that wrap lines (`base64` without -w0) are common.
        return base64.b64decode("".join(value.split()), validate=True)
    except binascii.Error:
        raise PydanticCustomError("base64_invalid", "is not valid base64") from None


RatioLabel = Annotated[
    AspectRatio | None,
    PlainValidator(_aspect_ratio),
    WithJsonSchema({"anyOf": [{"type": "string", "enum": list(_RATIOS)}, {"type": "null"}]}),
]
Base64File = Annotated[
    bytes | None,
    PlainValidator(_base64_file),
    WithJsonSchema({"anyOf": [{"type": "string", "contentEncoding": "base64"}, {"type": "null"}]}),
]


def _file_field(what: str) -> Any:
    return Field(
        default=None, description=f"{what}, base64 (a `data:image/...;base64,` prefix is allowed)."
    )


def _url_field(what: str) -> Any:
    return Field(default=None, description=f"An http(s) or data: URL of {what} to fetch.")


class _Request(BaseModel):
    # Strict: "2" is not an integer and 1 is not a boolean; unknown keys are mistakes.
    model_config = ConfigDict(extra="forbid", strict=True)

    prompt: str = Field(description=f"What to draw or change; 1..{MAX_PROMPT_CHARS} characters.")
    number_of_images: int = Field(
        default=1,
        description=f"How many images, 1..{MAX_IMAGES}; 0 means 1. Each is sent as it is ready.",
    )
    quality: Quality = Field(default=Quality.AUTO, description="Rendering quality.")
    output_format: OutputFormat = Field(
        default=OutputFormat.PNG, description="Encoding of the delivered images."
    )
    include_data: bool = Field(
        default=False, description="When true each image also carries its bytes in `data`."
    )
    idempotency_key: str = Field(
        default="",
        description="Makes retries safe: a repeat with the same key and parameters within 24 h "
        "answers with the first job's images instead of making new ones; the same key with "
        "other parameters is refused. Up to 128 characters.",
    )

    @abstractmethod
    def to_spec(self) -> JobSpec: ...


class GenerateImageRequest(_Request):
    """Creates `number_of_images` new images from a text prompt."""

    aspect_ratio: RatioLabel = Field(default=None, description="Ratio of the images; 1:1 if unset.")
    background: Background = Field(
        default=Background.AUTO, description="`transparent` needs png or webp output."
    )

    def to_spec(self) -> JobSpec:
        return JobSpec(
            operation=Operation.GENERATE,
            prompt=self.prompt,
            number_of_images=self.number_of_images or 1,
            aspect_ratio=self.aspect_ratio,
            quality=self.quality,
            background=self.background,
            output_format=self.output_format,
            include_data=self.include_data,
            idempotency_key=self.idempotency_key,
        )


class EditImageRequest(_Request):
    """Transforms an existing image (`image_url` or `image_file`) according to a prompt."""

    image_url: str | None = _url_field("the image")
    image_file: Base64File = _file_field("The image file")
    aspect_ratio: RatioLabel = Field(
        default=None, description="Ratio of the results; unset means the closest to the input's."
    )
    background: Background = Field(
        default=Background.AUTO, description="`transparent` needs png or webp output."
    )

    def to_spec(self) -> JobSpec:
        return JobSpec(
            operation=Operation.EDIT,
            prompt=self.prompt,
            number_of_images=self.number_of_images or 1,
            aspect_ratio=self.aspect_ratio,
            quality=self.quality,
            background=self.background,
            output_format=self.output_format,
            include_data=self.include_data,
            image=_source("image", self.image_url, self.image_file),
            idempotency_key=self.idempotency_key,
        )


class InpaintRequest(_Request):
    """Repaints the masked area of an image, or a new border around it, and keeps the rest."""

    image_url: str | None = _url_field("the image")
    image_file: Base64File = _file_field("The image file")
    mask_url: str | None = _url_field("the mask")
    mask_file: Base64File = _file_field(
        "The mask file (transparent pixels, or white on black, mark the area; any size)"
    )
    inpaint_border_only: bool = Field(
        default=False, description="No mask: grow the canvas and generate only the new border."
    )
    border_percentage: float = Field(
        default=0.0,
        description="Border on every side as a fraction of the image's size, "
        f"{BORDER_RANGE[0]}..{BORDER_RANGE[1]}; only with `inpaint_border_only`.",
    )

    def to_spec(self) -> JobSpec:
        return JobSpec(
            operation=Operation.INPAINT,
            prompt=self.prompt,
            number_of_images=self.number_of_images or 1,
            quality=self.quality,
            output_format=self.output_format,
            include_data=self.include_data,
            image=_source("image", self.image_url, self.image_file),
            mask=_source("mask", self.mask_url, self.mask_file),
            inpaint_border_only=self.inpaint_border_only,
            border_percentage=self.border_percentage,
            idempotency_key=self.idempotency_key,
        )


def _source(name: str, url: str | None, data: bytes | None) -> ImageSource | None:
    url_key, file_key = f"{name}_url", f"{name}_file"
    if url is not None and data is not None:
        why = f"give {url_key} or {file_key}, not both"
        raise _invalid([Violation(url_key, why), Violation(file_key, why)])
    if url is not None:
        return ImageSource(field=url_key, url=url)
    if data is not None:
        return ImageSource(field=file_key, data=data)
    return None


def _invalid(violations: list[Violation]) -> InvalidArgument:
    error = InvalidArgument(violations[0].field, violations[0].description)
    error.violations = violations
    error.message = "; ".join(f"{v.field}: {v.description}" for v in violations)
    return error


def _describe(error: PydanticError, model: type[BaseModel]) -> Violation:
    """One pydantic error as a violation naming the key (or the whole body)."""
    field = ".".join(str(part) for part in error["loc"]) or BODY
    if error["type"] == "extra_forbidden":
        return Violation(field, f"unknown key; this route takes {', '.join(model.model_fields)}")
    if error["type"] == "missing":
        return Violation(field, "is required")
    return Violation(field, str(error["msg"]))


@dataclass(frozen=True)
class Endpoint:
    path: str
    operation_id: str
    body: type[_Request]

    def parse(self, raw: bytes) -> JobSpec:
        """The body as the core's JobSpec; raises InvalidArgument naming every bad key."""
        try:
            request = self.body.model_validate_json(raw)
        except ValidationError as exc:
            raise _invalid([_describe(e, self.body) for e in exc.errors()]) from None
        return request.to_spec()


ENDPOINTS = (
    Endpoint(
        f"{API_PREFIX}/image/generation/generate-image", "generateImage", GenerateImageRequest
    ),
    Endpoint(f"{API_PREFIX}/image/editing/edit-image", "editImage", EditImageRequest),
    Endpoint(f"{API_PREFIX}/image/editing/inpaint", "inpaint", InpaintRequest),
)


def max_body_bytes(max_input_bytes: int) -> int:
    """Room for an image and a mask at the input limit, base64-encoded, plus the other keys.

    5% over the base64 size covers line-wrapped base64 and escaped slashes (`\\/`)."""
    return int(2 * max_input_bytes * 4 / 3 * 1.05) + 1024 * 1024


# ---------------------------------------------------------------------------------------------
# Answers


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


def _dump(model: BaseModel) -> dict[str, Any]:
    return model.model_dump(mode="json", exclude_none=True)


def _image(event: ImageReady) -> Image:
    return Image(
        index=event.index,
        url=event.url,
        image_id=event.image_id,
        width=event.width,
        height=event.height,
        mime_type=event.mime_type,
        size_bytes=event.size_bytes,
        data=base64.b64encode(event.data).decode() if event.data is not None else None,
    )


def _images(events: Sequence[ImageReady]) -> list[Image]:
    return [_image(e) for e in sorted(events, key=lambda e: e.index)]


def _usage(usage: Usage) -> TokenUsage:
    return TokenUsage(
        input_tokens=usage.input_tokens,
        input_text_tokens=usage.input_text_tokens,
        input_image_tokens=usage.input_image_tokens,
        output_tokens=usage.output_tokens,
        total_tokens=usage.total_tokens,
    )


def image_json(event: ImageReady) -> dict[str, Any]:
    return _dump(_image(event))


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
            usage=_usage(event.usage),
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
        usage=_usage(finished.usage),
    )
    return _dump(SuccessResponse(success=True, data=result))


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


# ---------------------------------------------------------------------------------------------
# OpenAPI

_REF = "#/components/schemas/{model}"
_SECURITY_SCHEME = "ApiKeyAuth"
_ERROR_ANSWERS = {
    400: "A key, type, spelling or value is wrong (`field_violations` names it), or the "
    "provider refused the request (reason PROVIDER_REJECTED or CONTENT_POLICY_VIOLATION).",
    401: "The `X-API-Key` header is missing or wrong.",
    413: "The body is larger than an image and a mask at the input limit.",
    429: "The provider's rate limit was reached; `Retry-After` says when to retry if known.",
    500: "An internal error (details are logged, never sent).",
    502: "The provider refused this service's own credentials or model: an operator problem.",
    503: "The provider failed or could not be reached.",
    504: "The call took longer than the service's limit (`VISIONSTUDIO_MAX_CALL_S`).",
}
_STREAM_DESCRIPTION = (
    "With `Accept: text/event-stream`: Server-Sent Events. `accepted` (AcceptedEvent) first, "
    "one `image` (Image) per finished image in completion order, then `summary` "
    "(SummaryEvent); or `error` (ErrorResponse) if the job fails after the stream started. "
    f"A comment line `: keepalive` is sent every {KEEPALIVE_S:g} s. Errors before the job "
    "starts are ordinary JSON answers with their HTTP status."
)


def _ref(model: type[BaseModel]) -> dict[str, str]:
    return {"$ref": _REF.format(model=model.__name__)}


def _json(model: type[BaseModel]) -> dict[str, Any]:
    return {"application/json": {"schema": _ref(model)}}


def _operation(endpoint: Endpoint) -> dict[str, Any]:
    errors: dict[str, Any] = {
        str(status): {"description": text, "content": _json(ErrorResponse)}
        for status, text in _ERROR_ANSWERS.items()
    }
    errors["429"]["headers"] = {
        "Retry-After": {"description": "Seconds to wait.", "schema": {"type": "integer"}}
    }
    events: dict[str, type[BaseModel]] = {
        "accepted": AcceptedEvent,
        "image": Image,
        "summary": SummaryEvent,
        "error": ErrorResponse,
    }
    return {
        "operationId": endpoint.operation_id,
        "summary": (endpoint.body.__doc__ or "").strip(),
        "security": [{_SECURITY_SCHEME: []}],
        "requestBody": {"required": True, "content": _json(endpoint.body)},
        "responses": {
            "200": {
                "description": "The job's images (JSON), or its events as they happen (SSE).",
                "content": {
                    **_json(SuccessResponse),
                    EVENT_STREAM: {
                        "schema": {"type": "string", "description": _STREAM_DESCRIPTION},
                        "x-events": {name: _ref(model) for name, model in events.items()},
                    },
                },
            },
            **errors,
        },
    }


@functools.cache
def openapi_document() -> dict[str, Any]:
    """OpenAPI 3.1 (whose schemas are JSON Schema 2020-12, what pydantic emits)."""
    requests: list[type[BaseModel]] = [e.body for e in ENDPOINTS]
    answers: list[type[BaseModel]] = [SuccessResponse, ErrorResponse, AcceptedEvent, SummaryEvent]
    _, schemas = models_json_schema(
        [(m, "validation") for m in requests] + [(m, "serialization") for m in answers],
        ref_template=_REF,
    )
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "visionstudio image API",
            "version": "1",
            "description": "Generate, edit and inpaint images with OpenAI's image models.",
        },
        "paths": {e.path: {"post": _operation(e)} for e in ENDPOINTS},
        "components": {
            "schemas": schemas["$defs"],
            "securitySchemes": {
                _SECURITY_SCHEME: {"type": "apiKey", "in": "header", "name": "X-API-Key"}
            },
        },
    }
