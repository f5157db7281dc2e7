"""An image call's parameters, checked in roughly the order the real API checks them."""

from __future__ import annotations

from dataclasses import dataclass

from tests.fake_openai.errors import bad
from tests.fake_openai.models import check_model, parse_size
from tests.fake_openai.params import Params

_MAX_PROMPT = 32_000
_COMMON_PARAMS = frozenset(
    {
        "model", "prompt", "n", "size", "quality", "background", "output_format",
        "output_compression", "stream", "partial_images", "response_format", "user",
        "safety_identifier", "complexity", "frame_count", "frame_duration_ms", "svg",
    }
)  # fmt: skip
_PARAMS = {
    "generations": _COMMON_PARAMS | {"moderation", "style"},
    "edits": _COMMON_PARAMS | {"input_fidelity"},
}


@dataclass
class Job:
    """One accepted image call."""

    endpoint: str
    model: str
    prompt: str
    n: int
    size: tuple[int, int] | None  # None = auto, resolved once the inputs are known
    quality: str  # concrete: "auto" already mapped to "medium"
    background: str  # "transparent" or "opaque"
    output_format: str
    compression: int
    stream: bool
    partial_images: int
    safety_identifier: str | None
    input_images: int = 0


def parse_job(endpoint: str, p: Params) -> Job:
    """Validate the parameters in roughly the order the real API does: schema, then semantics."""
    _check_names(endpoint, p)
    model = p.string("model") or ""
    check_model(model)
    prompt = _prompt(p)
    n = p.integer("n", 1, 10) or 1
    for name, why in (("response_format", "always return base64"), ("style", "ignore it")):
        if p.raw.get(name) is not None:
            msg = f"'{name}' is not supported for GPT image models, which {why}."
            raise bad(msg, name, "unsupported_parameter")
    quality = _quality(p, model)
    output_format, background, compression = _output(p)
    _check_options(p, model)
    stream, partial_images = _streaming(p, n)
    identifier = p.string("safety_identifier") or p.string("user")
    return Job(
        endpoint=endpoint,
        model=model,
        prompt=prompt,
        n=n,
        size=parse_size(model, p.string("size")),
        quality="medium" if quality == "auto" else quality,
        background="transparent" if background == "transparent" else "opaque",
        output_format=output_format,
        compression=100 if compression is None else compression,
        stream=stream,
        partial_images=partial_images,
        safety_identifier=identifier or None,
    )


def _check_names(endpoint: str, p: Params) -> None:
    for key in p.raw:
        if key.split("[", 1)[0] not in _PARAMS[endpoint]:
            raise bad(f"Unknown parameter: '{key}'.", key, "unknown_parameter")
    for name in ("model", "prompt"):
        if p.raw.get(name) is None:
            raise bad(f"Missing required parameter: '{name}'.", name, "missing_required_parameter")


def _prompt(p: Params) -> str:
    prompt = p.string("prompt") or ""
    if not 1 <= len(prompt) <= _MAX_PROMPT:
        code = "string_below_min_length" if not prompt else "string_above_max_length"
        msg = f"Invalid 'prompt': string length must be between 1 and {_MAX_PROMPT}"
        raise bad(f"{msg}, but got {len(prompt)}.", "prompt", code)
    return prompt


def _quality(p: Params, model: str) -> str:
    qualities = ["low", "medium", "high", "auto"]
    if model.startswith("gpt-image-2.5-"):
        qualities[3:3] = ["xhigh", "max"]
    if p.raw.get("quality") in ("standard", "hd"):
        msg = f"Quality '{p.raw['quality']}' was only supported by retired DALL-E models."
        raise bad(msg, "quality")
    return p.choice("quality", qualities) or "auto"


def _output(p: Params) -> tuple[str, str, int | None]:
    """The output format, the background and the compression, which constrain each other."""
    output_format = p.raw.get("output_format")
    if output_format in ("gif", "svg"):
        msg = f"output_format '{output_format}' requires preview access for this project."
        raise bad(msg, "output_format", "unsupported_value")
    output_format = p.choice("output_format", ["png", "jpeg", "webp"]) or "png"
    background = p.choice("background", ["transparent", "opaque", "auto"]) or "auto"
    if background == "transparent" and output_format == "jpeg":
        msg = "Transparent background is not supported with output_format 'jpeg'; use png or webp."
        raise bad(msg, "background")
    compression = p.integer("output_compression", 0, 100)
    if compression is not None and output_format == "png":
        msg = "output_compression is only supported with the 'jpeg' and 'webp' output formats."
        raise bad(msg, "output_compression")
    return output_format, background, compression


def _check_options(p: Params, model: str) -> None:
    """Parameters that change nothing here but that the real API still checks."""
    p.choice("moderation", ["low", "auto"])
    p.choice("complexity", ["low", "medium", "high"])
    fidelity = p.choice("input_fidelity", ["high", "low"])
    if fidelity is not None and model.startswith("gpt-image-2"):
        raise bad(f"input_fidelity is not supported for {model}; omit it.", "input_fidelity")
    if fidelity == "high" and model == "gpt-image-1-mini":
        raise bad("gpt-image-1-mini supports only input_fidelity 'low'.", "input_fidelity")
    for name in ("frame_count", "frame_duration_ms"):
        if p.raw.get(name) is not None:
            raise bad(f"'{name}' is only supported with output_format 'gif'.", name)
    if any(key.split("[", 1)[0] == "svg" for key in p.raw):
        raise bad("'svg' is only supported with output_format 'svg'.", "svg")


def _streaming(p: Params, n: int) -> tuple[bool, int]:
    stream = bool(p.boolean("stream"))
    partial_images = p.integer("partial_images", 0, 3)
    if stream and n != 1:
        raise bad("Streaming is only supported with n=1; make several calls instead.", "n")
    if not stream and partial_images:
        raise bad("partial_images is only supported when stream is true.", "partial_images")
    return stream, partial_images or 0
