"""What a caller asked for, independent of the surface (gRPC or HTTP/JSON) it came through."""

from __future__ import annotations

import dataclasses
import hashlib
import json
from dataclasses import dataclass
from enum import Enum, StrEnum
from typing import Any


class Operation(StrEnum):
    GENERATE = "generate"
    EDIT = "edit"
    INPAINT = "inpaint"


class AspectRatio(Enum):
    """Width:height ratios the contract offers, with their reference spelling."""

    SQUARE = (1, 1)
    PORTRAIT_2_3 = (2, 3)
    LANDSCAPE_3_2 = (3, 2)
    PORTRAIT_3_4 = (3, 4)
    LANDSCAPE_4_3 = (4, 3)
    PORTRAIT_9_16 = (9, 16)
    LANDSCAPE_16_9 = (16, 9)

    @property
    def width(self) -> int:
        return self.value[0]

    @property
    def height(self) -> int:
        return self.value[1]

    @property
    def label(self) -> str:
        return f"{self.width}:{self.height}"

    @classmethod
    def closest_to(cls, width: int, height: int) -> AspectRatio:
        return min(cls, key=lambda r: abs(r.width / r.height - width / height))


class Quality(StrEnum):
    AUTO = "auto"
    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"


class Background(StrEnum):
    AUTO = "auto"
    TRANSPARENT = "transparent"
    OPAQUE = "opaque"


class OutputFormat(StrEnum):
    PNG = "png"
    JPEG = "jpeg"
    WEBP = "webp"

    @property
    def mime_type(self) -> str:
        return f"image/{self.value}"

    @property
    def has_alpha(self) -> bool:
        return self is not OutputFormat.JPEG


@dataclass(frozen=True)
class ImageSource:
    """An input image as the caller gave it: a URL to fetch, or the file's bytes."""

    field: str
    url: str | None = None
    data: bytes | None = dataclasses.field(default=None, repr=False)


MAX_PROMPT_CHARS = 32000
MAX_IMAGES = 10
MAX_PARTIAL_IMAGES = 3
MAX_IDEMPOTENCY_KEY_CHARS = 128
BORDER_RANGE = (0.01, 0.5)


@dataclass(frozen=True)
class JobSpec:
    operation: Operation
    prompt: str
    number_of_images: int = 1
    aspect_ratio: AspectRatio | None = None
    quality: Quality = Quality.AUTO
    background: Background = Background.AUTO
    output_format: OutputFormat = OutputFormat.PNG
    include_data: bool = False
    image: ImageSource | None = None
    mask: ImageSource | None = None
    inpaint_border_only: bool = False
    border_percentage: float = 0.0
    partial_images: int = 0
    idempotency_key: str = ""

    def fingerprint(self, params: dict[str, Any] | None = None) -> str:
        """A hash of everything that shapes the result, image bytes included: an idempotency key
        reused with another fingerprint is a different request. `params`: this spec's
        `params()` when the caller has them already (they hash any `data:` URL)."""
        digest = hashlib.sha256()
        digest.update(self.operation.value.encode())
        digest.update(
            json.dumps(self.params() if params is None else params, sort_keys=True).encode()
        )
        for src in (self.image, self.mask):
            digest.update(hashlib.sha256(src.data if src and src.data else b"").digest())
        return digest.hexdigest()

    def params(self) -> dict[str, Any]:
        """The request as stored with the job: everything but image bytes."""

        def source(src: ImageSource | None) -> dict[str, Any] | None:
            if src is None:
                return None
            if src.url is not None and src.url.startswith("data:"):
                # A data: URL is the image itself: kept as a digest, like uploaded bytes.
                digest = hashlib.sha256(src.url.encode()).hexdigest()
                return {"field": src.field, "data_url_sha256": digest, "chars": len(src.url)}
            if src.url is not None:
                return {"field": src.field, "url": src.url}
            return {"field": src.field, "bytes": len(src.data or b"")}

        return {
            "prompt": self.prompt,
            "number_of_images": self.number_of_images,
            "aspect_ratio": self.aspect_ratio.label if self.aspect_ratio else None,
            "quality": self.quality.value,
            "background": self.background.value,
            "output_format": self.output_format.value,
            "include_data": self.include_data,
            "image": source(self.image),
            "mask": source(self.mask),
            "inpaint_border_only": self.inpaint_border_only,
            "border_percentage": self.border_percentage,
            "partial_images": self.partial_images,
            "idempotency_key": self.idempotency_key,
        }


def spec_from_params(operation: str, params: dict[str, Any]) -> JobSpec:
    """The spec a job was stored with (`JobSpec.params`), its input images without bytes:
    a resumed job loads those from the blob store."""

    def source(stored: dict[str, Any] | None) -> ImageSource | None:
        return None if stored is None else ImageSource(field=stored["field"])

    ratio = params["aspect_ratio"]
    return JobSpec(
        operation=Operation(operation),
        prompt=params["prompt"],
        number_of_images=params["number_of_images"],
        aspect_ratio=next(r for r in AspectRatio if r.label == ratio) if ratio else None,
        quality=Quality(params["quality"]),
        background=Background(params["background"]),
        output_format=OutputFormat(params["output_format"]),
        include_data=params["include_data"],
        image=source(params["image"]),
        mask=source(params["mask"]),
        inpaint_border_only=params["inpaint_border_only"],
        border_percentage=params["border_percentage"],
        partial_images=params["partial_images"],
        idempotency_key=params["idempotency_key"],
    )


@dataclass(frozen=True)
class Usage:
    """Provider token counts; image outputs have no breakdown, so all output is image tokens."""

    input_tokens: int = 0
    input_text_tokens: int = 0
    input_image_tokens: int = 0
    output_tokens: int = 0
    total_tokens: int = 0

    def __add__(self, other: Usage) -> Usage:
        return Usage(
            self.input_tokens + other.input_tokens,
            self.input_text_tokens + other.input_text_tokens,
            self.input_image_tokens + other.input_image_tokens,
            self.output_tokens + other.output_tokens,
            self.total_tokens + other.total_tokens,
        )
