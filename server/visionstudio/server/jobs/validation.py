"""Rules a request must satisfy before any work starts; one copy for every surface."""

from __future__ import annotations

import math

from visionstudio.server.errors import InvalidArgument
from visionstudio.server.spec import (
    BORDER_RANGE,
    MAX_IDEMPOTENCY_KEY_CHARS,
    MAX_IMAGES,
    MAX_PARTIAL_IMAGES,
    MAX_PROMPT_CHARS,
    Background,
    ImageSource,
    JobSpec,
    Operation,
)


def _check_source(src: ImageSource | None, name: str, max_bytes: int, *, required: bool) -> None:
    if src is None:
        if required:
            raise InvalidArgument(f"{name}_url", f"give {name}_url or {name}_file")
        return
    if src.url is not None:
        if not src.url.strip():
            raise InvalidArgument(src.field, "must not be empty")
        if not src.url.lower().startswith(("http://", "https://", "data:")):
            raise InvalidArgument(src.field, "must be an http(s) or data: URL")
    elif not src.data:
        raise InvalidArgument(src.field, "must not be empty")
    elif len(src.data) > max_bytes:
        raise InvalidArgument(src.field, f"is {len(src.data)} bytes; the limit is {max_bytes}")


def validate(spec: JobSpec, *, max_input_bytes: int) -> JobSpec:
    """Checks `spec` and returns it; raises InvalidArgument naming the first bad field."""
    if not spec.prompt.strip():
        raise InvalidArgument("prompt", "must not be empty")
    if len(spec.prompt) > MAX_PROMPT_CHARS:
        raise InvalidArgument(
            "prompt", f"is {len(spec.prompt)} characters; the limit is {MAX_PROMPT_CHARS}"
        )
    if not 1 <= spec.number_of_images <= MAX_IMAGES:
        raise InvalidArgument("number_of_images", f"must be between 1 and {MAX_IMAGES}")
    if len(spec.idempotency_key) > MAX_IDEMPOTENCY_KEY_CHARS:
        raise InvalidArgument(
            "idempotency_key", f"is longer than {MAX_IDEMPOTENCY_KEY_CHARS} characters"
        )
    if not 0 <= spec.partial_images <= MAX_PARTIAL_IMAGES:
        raise InvalidArgument("partial_images", f"must be between 0 and {MAX_PARTIAL_IMAGES}")
    if spec.background is Background.TRANSPARENT and not spec.output_format.has_alpha:
        raise InvalidArgument(
            "output_format", "a transparent background needs PNG or WebP output, not JPEG"
        )
    if spec.operation is Operation.GENERATE:
        return spec
    _check_source(spec.image, "image", max_input_bytes, required=True)
    if spec.operation is Operation.INPAINT:
        if spec.inpaint_border_only:
            if spec.mask is not None:
                raise InvalidArgument(
                    spec.mask.field, "must not be set when inpaint_border_only is true"
                )
            low, high = BORDER_RANGE
            pct = spec.border_percentage
            if not math.isfinite(pct) or not low - 1e-6 <= pct <= high + 1e-6:
                raise InvalidArgument(
                    "border_percentage",
                    f"must be between {low} and {high} when inpaint_border_only is true",
                )
        else:
            if spec.mask is None:
                raise InvalidArgument(
                    "mask_url", "give mask_url or mask_file, or set inpaint_border_only"
                )
            _check_source(spec.mask, "mask", max_input_bytes, required=True)
    return spec
