"""The request bodies of the reference JSON API, checked for shape only (keys, types, spellings),
and their one mapping to the core's JobSpec.

Every rule about values (prompt length, image count, border range, transparent needs PNG...)
lives in `jobs/validation.py`, which the job runner applies to both surfaces.
"""

from __future__ import annotations

import base64
import binascii
import re
from dataclasses import dataclass
from typing import Annotated, Any, ClassVar

from pydantic import BaseModel, ConfigDict, Field, PlainValidator, ValidationError, WithJsonSchema
from pydantic_core import ErrorDetails as PydanticError
from pydantic_core import PydanticCustomError
from visionstudio.server.errors import FieldViolation as Violation
from visionstudio.server.errors import InvalidArgument
from visionstudio.server.spec import (
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
)

API_PREFIX = "/api/v1/openai"
# Names the job on every answer of an accepted job, so a caller that gave up can fetch it later.
JOB_ID_HEADER = "X-Job-Id"
# Names the whole body in field violations (for JSON that is not an object of known keys).
BODY = "body"

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


def _partial_images_field() -> Any:
    return Field(
        default=0,
        description="Previews per image while it renders, 0..3; each is a `preview` event of "
        "the event stream (JSON answers leave them out). They cost extra output tokens.",
    )


class _Request(BaseModel):
    # Strict: "2" is not an integer and 1 is not a boolean; unknown keys are mistakes.
    model_config = ConfigDict(extra="forbid", strict=True)
    operation: ClassVar[Operation]

    prompt: str = Field(description=f"What to draw or change; 1..{MAX_PROMPT_CHARS} characters.")
    # An explicit 0 is refused here (gRPC's proto3 default means 1; JSON can leave the key out).
    number_of_images: int = Field(
        default=1,
        ge=1,
        description=f"How many images, 1..{MAX_IMAGES} (default 1). Each is sent as it is ready.",
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

    def to_spec(self) -> JobSpec:
        """The core's JobSpec; keys a route does not take keep the spec's defaults."""
        return JobSpec(
            operation=self.operation,
            prompt=self.prompt,
            number_of_images=self.number_of_images,
            aspect_ratio=getattr(self, "aspect_ratio", None),
            quality=self.quality,
            background=getattr(self, "background", Background.AUTO),
            output_format=self.output_format,
            include_data=self.include_data,
            image=self._source("image"),
            mask=self._source("mask"),
            inpaint_border_only=getattr(self, "inpaint_border_only", False),
            border_percentage=getattr(self, "border_percentage", 0.0),
            partial_images=getattr(self, "partial_images", 0),
            idempotency_key=self.idempotency_key,
        )

    def _source(self, name: str) -> ImageSource | None:
        """`<name>_url` or `<name>_file`, on the routes that take them."""
        url_key, file_key = f"{name}_url", f"{name}_file"
        url: str | None = getattr(self, url_key, None)
        data: bytes | None = getattr(self, file_key, None)
        if url is not None and data is not None:
            why = f"give {url_key} or {file_key}, not both"
            raise invalid([Violation(url_key, why), Violation(file_key, why)])
        if url is not None:
            return ImageSource(field=url_key, url=url)
        if data is not None:
            return ImageSource(field=file_key, data=data)
        return None


class GenerateImageRequest(_Request):
    """Creates `number_of_images` new images from a text prompt."""

    operation = Operation.GENERATE

    aspect_ratio: RatioLabel = Field(default=None, description="Ratio of the images; 1:1 if unset.")
    background: Background = Field(
        default=Background.AUTO, description="`transparent` needs png or webp output."
    )
    partial_images: int = _partial_images_field()


class EditImageRequest(_Request):
    """Transforms an existing image (`image_url` or `image_file`) according to a prompt."""

    operation = Operation.EDIT

    image_url: str | None = _url_field("the image")
    image_file: Base64File = _file_field("The image file")
    aspect_ratio: RatioLabel = Field(
        default=None, description="Ratio of the results; unset means the closest to the input's."
    )
    background: Background = Field(
        default=Background.AUTO, description="`transparent` needs png or webp output."
    )
    partial_images: int = _partial_images_field()


class InpaintRequest(_Request):
    """Repaints the masked area of an image, or a new border around it, and keeps the rest."""

    operation = Operation.INPAINT

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


def invalid(violations: list[Violation]) -> InvalidArgument:
    """One InvalidArgument naming every violation (the first is its own field)."""
    error = InvalidArgument(violations[0].field, violations[0].description)
    error.violations = violations
    error.message = "; ".join(f"{v.field}: {v.description}" for v in violations)
    return error


def describe(
    error: PydanticError, model: type[BaseModel], *, taker: str = "this route takes"
) -> Violation:
    """One pydantic error of `model` as a violation naming the key (or the whole body). An
    unknown key's description lists the model's keys after `taker`."""
    field = ".".join(str(part) for part in error["loc"]) or BODY
    if error["type"] == "extra_forbidden":
        keys = ", ".join(info.alias or name for name, info in model.model_fields.items())
        return Violation(field, f"unknown key; {taker} {keys}")
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
            raise invalid([describe(e, self.body) for e in exc.errors()]) from None
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
