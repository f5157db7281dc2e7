"""Which models exist, and the output sizes each accepts."""

from __future__ import annotations

import re

from tests.fake_openai.errors import ApiError, bad, one_of

# Models that take any WIDTHxHEIGHT within limits, and models limited to STANDARD_SIZES.
FLEXIBLE_SIZE_MODELS = frozenset({
    "gpt-image-2", "gpt-image-2-2026-04-21", "gpt-image-2.5-sunburst",
    "gpt-image-2.5-sunburst-2026-09-08", "gpt-image-2.5-flare", "gpt-image-2.5-flare-2026-09-08",
})  # fmt: skip
FIXED_SIZE_MODELS = frozenset({
    "gpt-image-1.5", "gpt-image-1-mini", "chatgpt-image-latest", "gpt-image-2.6-sunburst",
    "gpt-image-2.6-flare",
})  # fmt: skip
_RETIRED_MODELS = {
    "gpt-image-1": "The model `gpt-image-1` was shut down on October 23, 2026. "
    "Use gpt-image-2.5-sunburst or gpt-image-2.5-flare instead.",
    "dall-e-2": "The model `dall-e-2` was retired on May 12, 2026. Use a GPT image model instead.",
    "dall-e-3": "The model `dall-e-3` was retired on May 12, 2026. Use a GPT image model instead.",
}
STANDARD_SIZES = ((1024, 1024), (1536, 1024), (1024, 1536))
_MIN_PIXELS = 655_360
_MAX_PIXELS = 3840 * 2160
_MAX_EDGE = 3840


def check_model(model: str) -> None:
    """Refuse a retired or unknown model as the real API does (code model_not_found)."""
    if model in _RETIRED_MODELS:
        raise bad(_RETIRED_MODELS[model], "model", "model_not_found")
    if model not in FLEXIBLE_SIZE_MODELS | FIXED_SIZE_MODELS:
        msg = f"The model `{model}` does not exist or you do not have access to it."
        raise bad(msg, "model", "model_not_found")


def model_object(model: str) -> dict[str, object]:
    """GET /v1/models/{model}: the model, or 404 model_not_found as the real API answers."""
    if model not in FLEXIBLE_SIZE_MODELS | FIXED_SIZE_MODELS:
        msg = f"The model `{model}` does not exist or you do not have access to it."
        raise ApiError(404, msg, param="model", code="model_not_found")
    return {"id": model, "object": "model", "created": 1_767_225_600, "owned_by": "openai"}


def parse_size(model: str, value: str | None) -> tuple[int, int] | None:
    """The requested (width, height), None for auto; refused unless `model` can make it."""
    if value is None or value == "auto":
        return None
    match = re.fullmatch(r"(\d{1,6})x(\d{1,6})", value)
    if model in FIXED_SIZE_MODELS:
        if not match or (int(match[1]), int(match[2])) not in STANDARD_SIZES:
            allowed = one_of([f"{w}x{h}" for w, h in STANDARD_SIZES] + ["auto"])
            raise bad(f"Invalid size '{value}'. Supported sizes for {model} are {allowed}.", "size")
        return int(match[1]), int(match[2])
    if not match:
        raise bad(
            f"Invalid size '{value}'. Expected 'auto' or 'WIDTHxHEIGHT', e.g. '1536x864'.", "size"
        )
    w, h = int(match[1]), int(match[2])
    if problem := _flexible_size_problem(w, h):
        raise bad(f"Invalid size '{value}' for {model}: {problem}.", "size")
    return w, h


def _flexible_size_problem(w: int, h: int) -> str | None:
    if w % 16 or h % 16:
        return "width and height must both be divisible by 16"
    if w * h < _MIN_PIXELS:
        return f"the image must have at least {_MIN_PIXELS:,} pixels"
    if max(w, h) > 3 * min(w, h):
        return "the aspect ratio must be between 1:3 and 3:1"
    if w > _MAX_EDGE or h > _MAX_EDGE or w * h > _MAX_PIXELS:
        return "the maximum supported resolution is 3840x2160 (edges up to 3840)"
    return None


def closest_standard(width: int, height: int) -> tuple[int, int]:
    """The standard size nearest in aspect ratio: what "auto" makes of an edit's input."""
    ratio = width / height
    return min(STANDARD_SIZES, key=lambda s: abs((s[0] / s[1]) / ratio - 1))
