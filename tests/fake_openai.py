"""A small, strict, OpenAI-compatible Images API served over real HTTP on loopback.

Tests, benchmarks and newcomers point the openai SDK at it (``OPENAI_BASE_URL``) instead of the real
API. It speaks the same wire format (JSON, multipart, Server-Sent Events, error bodies) and refuses
what the real API refuses (sizes per model, mask format and size, enum values, unknown parameters),
so a request the real API would reject fails in our tests too. Images are real, deterministic
Pillow renderings; edits return the input recolored so callers can prove they restore pixels.

Run it by hand with ``python -m tests.fake_openai --port 8600``; its counters
(images served, calls refused by the optional rate limits) are at ``GET /_fake/stats``.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import functools
import hashlib
import io
import json
import math
import random
import re
import secrets
import signal
import sys
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any, Self

from aiohttp import BodyPartReader, web
from PIL import Image, ImageChops, ImageDraw, ImageOps

__all__ = ["STATS_PATH", "FakeOpenAI", "FakeOpenAIConfig", "RecordedRequest", "main"]

# GET: the fake's counters as JSON (see FakeOpenAI.stats); outside /v1, as no OpenAI route is.
STATS_PATH = "/_fake/stats"

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
_MAX_PROMPT = 32_000
_MAX_IMAGE_BYTES = 50 * 1024 * 1024
_MAX_MASK_BYTES = 4 * 1024 * 1024
_MAX_JSON_BYTES = 16 * 1024 * 1024
_IMAGE_MIMES = ("image/png", "image/jpeg", "image/webp")
_FILE_FIELDS = frozenset({"image", "image[]", "mask", "markup"})
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
# Output tokens of one 1024x1024 image per quality; other sizes scale with their pixel count.
_OUTPUT_TOKENS = {"low": 272, "medium": 1056, "high": 4160, "xhigh": 8320, "max": 16640}
_PARTIAL_IMAGE_TOKENS = 100
_INPUT_IMAGE_TOKENS = 65
_IMAGE_ROUTES = {"/v1/images/generations": "generations", "/v1/images/edits": "edits"}
# Standard deviation of the grain that makes generations compress like photographs.
_GRAIN_SIGMA = 12


@dataclass
class RecordedRequest:
    """One request as the fake received it (kept even when it was refused)."""

    endpoint: str  # "generations" or "edits"; the raw path for any other route
    fields: dict[str, Any]  # JSON body, or multipart text fields (repeated fields as list)
    files: dict[str, list[tuple[str, str, bytes]]]  # field -> [(filename, content_type, bytes)]
    headers: dict[str, str]


@dataclass(frozen=True)
class Failure:
    """One canned error answer."""

    status: int
    body: dict[str, Any]
    headers: dict[str, str] = field(default_factory=dict)


@dataclass
class FakeOpenAIConfig:
    """Behaviour knobs; tests may change them while the server runs."""

    api_key: str = "sk-test"
    latency_s: float = 0.0  # sleep before answering each image call (spread over stream events)
    # Per-call latencies, popped one per image call in arrival order; latency_s once empty.
    next_latencies: list[float] = field(default_factory=list)
    # Connection faults for the next image calls (generations and edits), each taking one call
    # once its request was read, before `fail_next`: drops first, then hangs.
    # drop_next: the TCP connection is closed without any HTTP answer (a crashed server or proxy).
    drop_next: int = 0
    # hang_next: nothing is ever answered; the call waits until the client hangs up.
    hang_next: int = 0
    # Queued failures, popped one per request before normal handling. The body may be the full
    # {"error": {...}} or just the inner error object; `headers` (e.g. Retry-After) are sent too.
    fail_next: list[Failure] = field(default_factory=list)
    # True: edits recolor every pixel (like the real model, which repaints the whole frame).
    # False: only the mask's transparent area is recolored (an "ideal" model).
    edit_changes_every_pixel: bool = True
    record_requests: bool = True  # benchmarks with big uploads can turn recording off
    # The account's rate limits, as OpenAI enforces them: a token bucket per kind holding a
    # minute's worth (a full minute's burst), refilled continuously. 0 turns a limit off.
    # Every image call takes one request and `n` images; over either limit it is answered 429
    # (type "requests" or "images", code "rate_limit_exceeded") with Retry-After. A call refused
    # for images still used up its request, as a refused call counts against OpenAI's RPM.
    # Every answer of an image route carries the x-ratelimit-* headers of each limit that is on.
    rate_limit_requests_per_minute: int = 0
    rate_limit_images_per_minute: int = 0
    # True: generations get a fine grain, so a 1024x1024 PNG is about 1.5 MB as the real
    # API's are (and the bytes to decode, store and stream are realistic), not about 50 KB.
    photographic: bool = False


class _Dropped(Exception):
    """Raised by a handler whose connection must be closed without an answer."""


class _ApiError(Exception):
    def __init__(
        self,
        status: int,
        message: str,
        *,
        param: str | None = None,
        code: str | None = None,
        kind: str = "invalid_request_error",
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.body = {"error": {"message": message, "type": kind, "param": param, "code": code}}
        self.headers = dict(headers or {})


def _bad(message: str, param: str | None = None, code: str | None = "invalid_value") -> _ApiError:
    return _ApiError(400, message, param=param, code=code)


def _kind(value: Any) -> str:
    kinds = [(bool, "a boolean"), (int, "an integer"), (float, "a decimal"), (str, "a string")]
    kinds += [(list, "an array"), (dict, "an object")]
    return next((name for typ, name in kinds if isinstance(value, typ)), "null")


def _one_of(values: Iterable[str]) -> str:
    quoted = [f"'{v}'" for v in values]
    return ", ".join(quoted[:-1]) + f", and {quoted[-1]}" if len(quoted) > 1 else quoted[0]


class _Params:
    """Typed access to parameters: JSON keeps its types, multipart values arrive as strings."""

    def __init__(self, raw: Mapping[str, Any], *, form: bool) -> None:
        self.raw = raw
        self.form = form

    def _type_error(self, name: str, expected: str, value: Any) -> _ApiError:
        got = _kind(value)
        msg = f"Invalid type for '{name}': expected {expected}, but got {got} instead."
        return _bad(msg, name, "invalid_type")

    def string(self, name: str) -> str | None:
        value = self.raw.get(name)
        if value is not None and not isinstance(value, str):
            raise self._type_error(name, "a string", value)
        return value

    def choice(self, name: str, allowed: Iterable[str]) -> str | None:
        value = self.string(name)
        allowed = list(allowed)
        if value is not None and value not in allowed:
            raise _bad(f"Invalid value: '{value}'. Supported values are: {_one_of(allowed)}.", name)
        return value

    def integer(self, name: str, low: int, high: int) -> int | None:
        value = self.raw.get(name)
        if value is None:
            return None
        if self.form and isinstance(value, str) and re.fullmatch(r"-?\d+", value.strip()):
            value = int(value)
        if isinstance(value, bool) or not isinstance(value, int):
            raise self._type_error(name, "an integer", value)
        if value < low:
            msg = f"Invalid '{name}': integer below minimum value. Expected a value >= {low}"
            raise _bad(f"{msg}, but got {value} instead.", name, "integer_below_min_value")
        if value > high:
            msg = f"Invalid '{name}': integer above maximum value. Expected a value <= {high}"
            raise _bad(f"{msg}, but got {value} instead.", name, "integer_above_max_value")
        return value

    def boolean(self, name: str) -> bool | None:
        value = self.raw.get(name)
        if self.form and isinstance(value, str) and value.lower() in ("true", "false"):
            return value.lower() == "true"
        if value is not None and not isinstance(value, bool):
            raise self._type_error(name, "a boolean", value)
        return value


def _duration(seconds: float) -> str:
    """As OpenAI writes x-ratelimit-reset-*: "20ms", "1.2s", "6m0s"."""
    if seconds < 1:
        return f"{round(seconds * 1000)}ms"
    if seconds < 60:
        return f"{round(seconds, 3):g}s"
    minutes, rest = divmod(seconds, 60)
    return f"{int(minutes)}m{round(rest, 3):g}s"


class _RateBucket:
    """One per-minute limit: `limit` tokens, refilled at limit/60 per second."""

    def __init__(self, limit: int, clock: Callable[[], float]) -> None:
        self.limit = limit
        self._clock = clock
        self._tokens = float(limit)
        self._updated = clock()

    def _refill(self) -> float:
        now = self._clock()
        self._tokens = min(
            float(self.limit), self._tokens + (now - self._updated) * self.limit / 60
        )
        self._updated = now
        return self._tokens

    def wait_s(self, amount: int) -> float:
        """0 when `amount` tokens are there now, else the seconds until they are."""
        missing = amount - self._refill()
        return max(0.0, missing) * 60 / self.limit

    def take(self, amount: int) -> None:
        self._tokens = self._refill() - amount

    def remaining(self) -> int:
        return int(self._refill())

    def headers(self, kind: str) -> dict[str, str]:
        tokens = self._refill()
        return {
            f"x-ratelimit-limit-{kind}": str(self.limit),
            f"x-ratelimit-remaining-{kind}": str(int(tokens)),
            # Until the bucket is full again, as OpenAI's "time until the limit resets".
            f"x-ratelimit-reset-{kind}": _duration((self.limit - tokens) * 60 / self.limit),
        }


@dataclass
class _Upload:
    name: str
    filename: str
    content_type: str
    data: bytes  # at most the field's limit; `size` is the true length
    size: int


@dataclass
class _Job:
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


def _parse_size(model: str, value: str | None) -> tuple[int, int] | None:
    if value is None or value == "auto":
        return None
    match = re.fullmatch(r"(\d{1,6})x(\d{1,6})", value)
    if model in FIXED_SIZE_MODELS:
        if not match or (int(match[1]), int(match[2])) not in STANDARD_SIZES:
            allowed = _one_of([f"{w}x{h}" for w, h in STANDARD_SIZES] + ["auto"])
            raise _bad(
                f"Invalid size '{value}'. Supported sizes for {model} are {allowed}.", "size"
            )
        return int(match[1]), int(match[2])
    if not match:
        raise _bad(
            f"Invalid size '{value}'. Expected 'auto' or 'WIDTHxHEIGHT', e.g. '1536x864'.", "size"
        )
    w, h = int(match[1]), int(match[2])
    problem = None
    if w % 16 or h % 16:
        problem = "width and height must both be divisible by 16"
    elif w * h < _MIN_PIXELS:
        problem = f"the image must have at least {_MIN_PIXELS:,} pixels"
    elif max(w, h) > 3 * min(w, h):
        problem = "the aspect ratio must be between 1:3 and 3:1"
    elif w > _MAX_EDGE or h > _MAX_EDGE or w * h > _MAX_PIXELS:
        problem = "the maximum supported resolution is 3840x2160 (edges up to 3840)"
    if problem:
        raise _bad(f"Invalid size '{value}' for {model}: {problem}.", "size")
    return w, h


def _parse_job(endpoint: str, p: _Params) -> _Job:
    """Validate the parameters in roughly the order the real API does: schema, then semantics."""
    for key in p.raw:
        if key.split("[", 1)[0] not in _PARAMS[endpoint]:
            raise _bad(f"Unknown parameter: '{key}'.", key, "unknown_parameter")
    for name in ("model", "prompt"):
        if p.raw.get(name) is None:
            raise _bad(f"Missing required parameter: '{name}'.", name, "missing_required_parameter")
    model = p.string("model") or ""
    if model in _RETIRED_MODELS:
        raise _bad(_RETIRED_MODELS[model], "model", "model_not_found")
    if model not in FLEXIBLE_SIZE_MODELS | FIXED_SIZE_MODELS:
        msg = f"The model `{model}` does not exist or you do not have access to it."
        raise _bad(msg, "model", "model_not_found")
    prompt = p.string("prompt") or ""
    if not 1 <= len(prompt) <= _MAX_PROMPT:
        code = "string_below_min_length" if not prompt else "string_above_max_length"
        msg = f"Invalid 'prompt': string length must be between 1 and {_MAX_PROMPT}"
        raise _bad(f"{msg}, but got {len(prompt)}.", "prompt", code)
    n = p.integer("n", 1, 10) or 1
    for name, why in (("response_format", "always return base64"), ("style", "ignore it")):
        if p.raw.get(name) is not None:
            msg = f"'{name}' is not supported for GPT image models, which {why}."
            raise _bad(msg, name, "unsupported_parameter")

    qualities = ["low", "medium", "high", "auto"]
    if model.startswith("gpt-image-2.5-"):
        qualities[3:3] = ["xhigh", "max"]
    if p.raw.get("quality") in ("standard", "hd"):
        msg = f"Quality '{p.raw['quality']}' was only supported by retired DALL-E models."
        raise _bad(msg, "quality")
    quality = p.choice("quality", qualities) or "auto"
    output_format = p.raw.get("output_format")
    if output_format in ("gif", "svg"):
        msg = f"output_format '{output_format}' requires preview access for this project."
        raise _bad(msg, "output_format", "unsupported_value")
    output_format = p.choice("output_format", ["png", "jpeg", "webp"]) or "png"
    background = p.choice("background", ["transparent", "opaque", "auto"]) or "auto"
    if background == "transparent" and output_format == "jpeg":
        msg = "Transparent background is not supported with output_format 'jpeg'; use png or webp."
        raise _bad(msg, "background")
    compression = p.integer("output_compression", 0, 100)
    if compression is not None and output_format == "png":
        msg = "output_compression is only supported with the 'jpeg' and 'webp' output formats."
        raise _bad(msg, "output_compression")
    p.choice("moderation", ["low", "auto"])
    p.choice("complexity", ["low", "medium", "high"])
    fidelity = p.choice("input_fidelity", ["high", "low"])
    if fidelity is not None and model.startswith("gpt-image-2"):
        raise _bad(f"input_fidelity is not supported for {model}; omit it.", "input_fidelity")
    if fidelity == "high" and model == "gpt-image-1-mini":
        raise _bad("gpt-image-1-mini supports only input_fidelity 'low'.", "input_fidelity")
    for name in ("frame_count", "frame_duration_ms"):
        if p.raw.get(name) is not None:
            raise _bad(f"'{name}' is only supported with output_format 'gif'.", name)
    if any(key.split("[", 1)[0] == "svg" for key in p.raw):
        raise _bad("'svg' is only supported with output_format 'svg'.", "svg")
    stream = bool(p.boolean("stream"))
    partial_images = p.integer("partial_images", 0, 3)
    if stream and n != 1:
        raise _bad("Streaming is only supported with n=1; make several calls instead.", "n")
    if not stream and partial_images:
        raise _bad("partial_images is only supported when stream is true.", "partial_images")
    identifier = p.string("safety_identifier") or p.string("user")
    return _Job(
        endpoint=endpoint,
        model=model,
        prompt=prompt,
        n=n,
        size=_parse_size(model, p.string("size")),
        quality="medium" if quality == "auto" else quality,
        background="transparent" if background == "transparent" else "opaque",
        output_format=output_format,
        compression=100 if compression is None else compression,
        stream=stream,
        partial_images=partial_images or 0,
        safety_identifier=identifier or None,
    )


def _open_upload(up: _Upload, mimes: tuple[str, ...], limit: int, code: str) -> Image.Image:
    """Check an uploaded image like the real API: declared MIME type, byte size, real content."""
    param = up.name.removesuffix("[]")
    mime = up.content_type.split(";", 1)[0].strip().lower()
    if mime not in mimes:
        supported = _one_of(mimes)
        msg = f"Invalid file '{param}': unsupported mimetype ('{mime}'). Supported: {supported}."
        raise _bad(msg, param, code)
    if up.size >= limit:
        msg = f"Invalid file '{param}': {up.size} bytes; it must be under {limit // 2**20} MB."
        raise _bad(msg, param, code)
    formats = {"image/png": "PNG", "image/jpeg": "JPEG", "image/webp": "WEBP"}
    try:
        img = Image.open(io.BytesIO(up.data))
        img.load()
    except Exception as exc:  # Pillow raises many types for corrupt data
        raise _bad(f"Invalid file '{param}': the image could not be decoded.", param, code) from exc
    if img.format not in {formats[m] for m in mimes}:
        msg = f"Invalid file '{param}': content is {img.format}, expected {_one_of(mimes)}."
        raise _bad(msg, param, code)
    return img


def _has_alpha(img: Image.Image) -> bool:
    return img.mode in ("RGBA", "LA", "PA") or (img.mode == "P" and "transparency" in img.info)


def _decode_edit_inputs(
    job: _Job, uploads: dict[str, list[_Upload]]
) -> tuple[Image.Image, Image.Image | None]:
    """Validate every uploaded file; return the first image (oriented) and the mask."""
    images = uploads.get("image", []) + uploads.get("image[]", [])
    if not images:
        raise _bad("Missing required parameter: 'image'.", "image", "missing_required_parameter")
    if len(images) > 16:
        raise _bad(f"Too many images: {len(images)}; at most 16 are allowed.", "image")
    decoded = [
        _open_upload(up, _IMAGE_MIMES, _MAX_IMAGE_BYTES, "invalid_image_file") for up in images
    ]
    first = ImageOps.exif_transpose(decoded[0])
    masks, markups = uploads.get("mask", []), uploads.get("markup", [])
    if len(masks) > 1 or len(markups) > 1:
        raise _bad("Only one mask and one markup image are allowed.", "mask" if masks else "markup")
    if markups and masks:
        raise _bad("'markup' cannot be combined with 'mask'.", "markup")
    if markups and not job.model.startswith("gpt-image-2.5-"):
        raise _bad(f"'markup' is not supported for {job.model}.", "markup")
    checked: list[Image.Image] = []
    for up, code in [(m, "invalid_mask") for m in masks] + [
        (m, "invalid_image_file") for m in markups
    ]:
        img = _open_upload(up, ("image/png",), _MAX_MASK_BYTES, code)
        if not _has_alpha(img):
            msg = f"Invalid {up.name}: it must be a PNG with an alpha channel (mode is {img.mode})."
            raise _bad(msg, up.name, code)
        if img.size != first.size:
            msg = f"Invalid {up.name}: its size {img.width}x{img.height} must match the image's "
            raise _bad(f"{msg}size {first.width}x{first.height}.", up.name, code)
        checked.append(img)
    job.input_images = len(images)
    return first, (checked[0] if masks else None)


def _closest_standard(width: int, height: int) -> tuple[int, int]:
    ratio = width / height
    return min(STANDARD_SIZES, key=lambda s: abs((s[0] / s[1]) / ratio - 1))


def _render_generation(
    prompt: str, index: int, size: tuple[int, int], alpha: bool, grain: bool = False
) -> Image.Image:
    """A gradient plus shapes seeded by the prompt and the index, so every image differs;
    `grain` adds noise so that it compresses like a photograph."""
    w, h = size
    rng = random.Random(hashlib.sha256(f"{index}\0{prompt}".encode()).digest())

    def color() -> tuple[int, int, int]:
        return rng.randrange(256), rng.randrange(256), rng.randrange(256)

    corners = Image.new("RGB", (2, 2))
    corners.putdata([color() for _ in range(4)])
    img = corners.resize(size, Image.Resampling.BILINEAR)
    draw = ImageDraw.Draw(img)
    for _ in range(rng.randint(3, 7)):
        x, y = rng.randrange(w), rng.randrange(h)
        box = (x, y, x + rng.randint(w // 10, w // 3), y + rng.randint(h // 10, h // 3))
        (draw.ellipse if rng.random() < 0.5 else draw.rectangle)(box, fill=color())
    if grain:
        noise = Image.effect_noise(size, _GRAIN_SIGMA).convert("RGB")
        img = ImageChops.add(img, noise, 1.0, -128)
    if alpha:  # an opaque subject on a genuinely transparent background
        mask = Image.new("L", size, 0)
        ImageDraw.Draw(mask).ellipse((w // 8, h // 8, w * 7 // 8, h * 7 // 8), fill=255)
        img.putalpha(mask)
    return img


@functools.lru_cache(maxsize=16)
def _encoded_generation(
    prompt: str,
    index: int,
    size: tuple[int, int],
    alpha: bool,
    fmt: str,
    compression: int,
    grain: bool,
) -> bytes:
    """Generations are deterministic, so a repeated one (a load benchmark sends one prompt many
    times) reuses its bytes instead of taking CPU from the server measured on the same host."""
    return _encode(_render_generation(prompt, index, size, alpha, grain), fmt, compression)


def _render_edit(
    source: Image.Image,
    mask: Image.Image | None,
    index: int,
    size: tuple[int, int],
    transparent: bool,
    every_pixel: bool,
) -> Image.Image:
    """The input resized and recolored; a channel shift of 128 (+12 per index) changes every
    channel of every pixel, so callers can prove which pixels they restored."""
    base = source.convert("RGBA")
    if base.size != size:
        base = base.resize(size, Image.Resampling.BILINEAR)
    shift = (128 + 12 * index) % 256
    lut = [(v + shift) % 256 for v in range(256)]
    *rgb, alpha = base.split()
    out = Image.merge("RGB", [band.point(lut) for band in rgb])
    if mask is not None and not every_pixel:
        area = mask.convert("RGBA").getchannel("A").resize(size, Image.Resampling.NEAREST)
        out = Image.composite(out, base.convert("RGB"), area.point(lambda a: 255 if a == 0 else 0))
    if transparent:
        out.putalpha(alpha)
    return out


def _encode(img: Image.Image, fmt: str, compression: int) -> bytes:
    buf = io.BytesIO()
    if fmt == "png":
        img.save(buf, "PNG", compress_level=1)  # speed over size: these bytes never leave the host
    elif fmt == "jpeg":
        img.convert("RGB").save(buf, "JPEG", quality=compression)
    else:
        img.save(buf, "WEBP", quality=compression, method=0)
    return buf.getvalue()


def _usage(job: _Job, size: tuple[int, int]) -> dict[str, Any]:
    text = len(job.prompt) // 4 + 1
    image_in = _INPUT_IMAGE_TOKENS * job.input_images
    per_image = max(1, round(_OUTPUT_TOKENS[job.quality] * size[0] * size[1] / 1024**2))
    output = per_image * job.n + _PARTIAL_IMAGE_TOKENS * job.partial_images
    return {
        "input_tokens": text + image_in,
        "input_tokens_details": {"image_tokens": image_in, "text_tokens": text},
        "output_tokens": output,
        "total_tokens": text + image_in + output,
        "output_tokens_details": {"image_tokens": output, "text_tokens": 0},
    }


async def _read_form(
    request: web.Request, record: RecordedRequest
) -> tuple[dict[str, Any], dict[str, list[_Upload]]]:
    if request.content_type != "multipart/form-data":
        msg = f"Invalid Content-Type header ({request.content_type}), expected multipart/form-data."
        raise _bad(msg, None, None)
    fields: dict[str, Any] = {}
    uploads: dict[str, list[_Upload]] = {}
    try:
        async for part in await request.multipart():
            if not isinstance(part, BodyPartReader) or not part.name:
                raise _bad("Nested or unnamed multipart parts are not supported.", None, None)
            if part.filename is None:
                value = await part.text()
                old = fields.get(part.name)
                fields[part.name] = value if old is None else [*_as_list(old), value]
                continue
            limit = _MAX_MASK_BYTES if part.name == "mask" else _MAX_IMAGE_BYTES
            data, size = bytearray(), 0
            while chunk := await part.read_chunk(1 << 20):
                size += len(chunk)
                if len(data) < limit:  # keep at most `limit` bytes; count the rest
                    data += chunk[: limit - len(data)]
            content_type = part.headers.get("Content-Type", "")
            uploads.setdefault(part.name, []).append(
                _Upload(part.name, part.filename, content_type, bytes(data), size)
            )
            record.files.setdefault(part.name, []).append(
                (part.filename, content_type, bytes(data))
            )
    except (ValueError, AssertionError, UnicodeDecodeError) as exc:
        raise _bad(f"Could not parse the multipart form: {exc}", None, None) from exc
    finally:
        record.fields = fields
    for name in uploads:
        if name not in _FILE_FIELDS:
            raise _bad(
                f"Invalid type for '{name}': expected a string, but got a file.",
                name,
                "invalid_type",
            )
    for name in _FILE_FIELDS & fields.keys():
        raise _bad(
            f"Invalid type for '{name}': expected a file, but got a string.", name, "invalid_type"
        )
    return fields, uploads


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


async def _read_json(request: web.Request, record: RecordedRequest) -> dict[str, Any]:
    try:
        raw = await request.read()
    except web.HTTPRequestEntityTooLarge as exc:
        raise _ApiError(413, "Request body too large.", code="request_too_large") from exc
    try:
        body = json.loads(raw)
    except ValueError as exc:
        msg = "We could not parse the JSON body of your request. The API expects a JSON payload."
        raise _bad(msg, None, None) from exc
    if not isinstance(body, dict):
        raise _bad(f"Invalid type for the request body: expected an object, got {_kind(body)}.")
    record.fields = body
    return body


def _partial(final: Image.Image, index: int, total: int) -> Image.Image:
    """A coarser preview of the final image: the later the partial, the sharper."""
    factor = 2 ** (total - index + 2)
    small = final.resize((max(1, final.width // factor), max(1, final.height // factor)))
    return small.resize(final.size, Image.Resampling.BILINEAR)


def _sse(event: str, data: dict[str, Any]) -> bytes:
    # The SDK picks the event class from the "type" field of the data, so it repeats the event.
    return f"event: {event}\ndata: {json.dumps({'type': event, **data})}\n\n".encode()


class FakeOpenAI:
    """The server. ``await start()`` / ``await stop()``, or ``async with FakeOpenAI() as fake``."""

    def __init__(
        self, config: FakeOpenAIConfig | None = None, *, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.config = config or FakeOpenAIConfig()
        self.requests: list[RecordedRequest] = []
        self.in_flight = 0
        self.max_in_flight = 0
        # Requests whose client hung up before the answer was complete.
        self.disconnects = 0
        # Images answered (each final image, streamed or not), and calls refused by the limits.
        self.served_images = 0
        self.rate_limited = 0
        self._clock = clock  # for the rate limits; tests may pass a fake one
        self._buckets: dict[str, _RateBucket] = {}
        self._runner: web.AppRunner | None = None
        self._host = ""
        self._port = 0

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> None:
        if self._runner is not None:
            raise RuntimeError("FakeOpenAI is already started")
        app = web.Application(client_max_size=_MAX_JSON_BYTES)
        app.router.add_get(STATS_PATH, self._stats)
        app.router.add_route("*", "/{tail:.*}", self._handle)
        app.on_response_prepare.append(self._on_prepare)
        # A short shutdown timeout: stopping must not wait for idle keep-alive connections.
        # handler_cancellation: a client hanging up cancels its handler, as a real server would.
        runner = web.AppRunner(
            app, access_log=None, shutdown_timeout=1.0, handler_cancellation=True
        )
        await runner.setup()
        try:
            await web.TCPSite(runner, host, port).start()
        except BaseException:
            await runner.cleanup()
            raise
        self._runner = runner
        self._host = host
        self._port = int(runner.addresses[0][1])

    async def stop(self) -> None:
        if self._runner is not None:
            runner, self._runner = self._runner, None
            await runner.cleanup()

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()

    @property
    def base_url(self) -> str:
        if self._runner is None:
            raise RuntimeError("FakeOpenAI is not started")
        host = "127.0.0.1" if self._host in ("", "0.0.0.0", "::") else self._host
        host = f"[{host}]" if ":" in host else host
        return f"http://{host}:{self._port}/v1"

    def stats(self) -> dict[str, int]:
        """The counters, also served as JSON at STATS_PATH (for a fake in another process)."""
        return {
            "served_images": self.served_images,
            "rate_limited": self.rate_limited,
            "in_flight": self.in_flight,
            "max_in_flight": self.max_in_flight,
            "disconnects": self.disconnects,
        }

    async def _stats(self, request: web.Request) -> web.Response:
        return web.json_response(self.stats())

    def _bucket(self, kind: str) -> _RateBucket | None:
        """The bucket of a limit that is on; a limit changed while running starts afresh."""
        limit = (
            self.config.rate_limit_requests_per_minute
            if kind == "requests"
            else self.config.rate_limit_images_per_minute
        )
        bucket = self._buckets.get(kind)
        if limit <= 0:
            self._buckets.pop(kind, None)
            return None
        if bucket is None or bucket.limit != limit:
            bucket = self._buckets[kind] = _RateBucket(limit, self._clock)
        return bucket

    def _ratelimit_headers(self) -> dict[str, str]:
        headers: dict[str, str] = {}
        for kind in ("requests", "images"):
            if (bucket := self._bucket(kind)) is not None:
                headers |= bucket.headers(kind)
        return headers

    def _admit(self, job: _Job) -> None:
        """Takes one request and `n` images from the limits that are on, or raises 429."""
        requests, images = self._bucket("requests"), self._bucket("images")
        if requests is not None and (wait := requests.wait_s(1)) > 0:
            self._refuse(job, "requests", "requests per min (RPM)", requests, 1, wait)
        if requests is not None:
            requests.take(1)
        if images is not None and (wait := images.wait_s(job.n)) > 0:
            self._refuse(job, "images", "images per min (IPM)", images, job.n, wait)
        if images is not None:
            images.take(job.n)

    def _refuse(
        self, job: _Job, kind: str, unit: str, bucket: _RateBucket, amount: int, wait_s: float
    ) -> None:
        self.rate_limited += 1
        msg = (
            f"Rate limit reached for {job.model} in organization org-fake on {unit}: "
            f"Limit {bucket.limit}, Used {bucket.limit - bucket.remaining()}, "
            f"Requested {amount}. Please try again in {_duration(wait_s)}. "
            "Visit https://platform.openai.com/account/rate-limits to learn more."
        )
        # Whole seconds in the standard header; the SDK prefers the exact retry-after-ms.
        headers = {
            "Retry-After": str(math.ceil(wait_s)),
            "retry-after-ms": str(math.ceil(wait_s * 1000)),
        }
        raise _ApiError(429, msg, code="rate_limit_exceeded", kind=kind, headers=headers)

    async def _on_prepare(self, request: web.Request, response: web.StreamResponse) -> None:
        # The SDK surfaces this header as `request_id` on results and errors.
        response.headers.setdefault("x-request-id", f"req_{secrets.token_hex(16)}")
        if request.path in _IMAGE_ROUTES:
            response.headers.update(self._ratelimit_headers())

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        self.in_flight += 1
        self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            return await self._dispatch(request)
        except _ApiError as err:
            return web.json_response(err.body, status=err.status, headers=err.headers)
        except _Dropped:
            if request.transport is not None:
                request.transport.abort()
            # Never sent: aiohttp finds the transport closed and lets the connection go quietly.
            return web.Response()
        except asyncio.CancelledError:
            self.disconnects += 1
            raise
        finally:
            self.in_flight -= 1

    def _latency(self) -> float:
        if self.config.next_latencies:
            return self.config.next_latencies.pop(0)
        return self.config.latency_s

    def _check_auth(self, request: web.Request) -> None:
        scheme, _, key = request.headers.get("Authorization", "").partition(" ")
        key = key.strip()
        if scheme.lower() != "bearer" or not key:
            msg = "You didn't provide an API key. Use an Authorization header: 'Bearer YOUR_KEY'."
            raise _ApiError(401, msg, code="invalid_api_key")
        if key != self.config.api_key:
            shown = key if len(key) <= 8 else f"{key[:3]}{'*' * 8}{key[-4:]}"
            msg = f"Incorrect API key provided: {shown}. You can find your API key at "
            msg += "https://platform.openai.com/account/api-keys."
            raise _ApiError(401, msg, code="invalid_api_key")

    async def _dispatch(self, request: web.Request) -> web.StreamResponse:
        endpoint = _IMAGE_ROUTES.get(request.path) if request.method == "POST" else None
        record = RecordedRequest(endpoint or request.path, {}, {}, dict(request.headers))
        if self.config.record_requests:
            self.requests.append(record)
        # Read the body before answering anything, so even refused requests are recorded in full.
        body_error: _ApiError | None = None
        raw: dict[str, Any] = {}
        uploads: dict[str, list[_Upload]] = {}
        try:
            if endpoint == "edits":
                raw, uploads = await _read_form(request, record)
            elif endpoint == "generations":
                raw = await _read_json(request, record)
        except _ApiError as err:
            body_error = err
        if endpoint is not None and self.config.drop_next > 0:
            self.config.drop_next -= 1
            raise _Dropped
        if endpoint is not None and self.config.hang_next > 0:
            self.config.hang_next -= 1
            await asyncio.Event().wait()  # only the client hanging up (cancellation) ends this
        if self.config.fail_next:
            failure = self.config.fail_next.pop(0)
            status, error = failure.status, failure.body
            payload = error if "error" in error else {"error": error}
            return web.json_response(payload, status=status, headers=failure.headers)
        self._check_auth(request)
        if endpoint is None:
            raise _ApiError(404, f"Invalid URL ({request.method} {request.path})")
        if body_error is not None:
            raise body_error

        job = _parse_job(endpoint, _Params(raw, form=endpoint == "edits"))
        self._admit(job)
        source: Image.Image | None = None
        mask: Image.Image | None = None
        if endpoint == "edits":
            first, mask = await asyncio.to_thread(_decode_edit_inputs, job, uploads)
            source, size = first, job.size or _closest_standard(*first.size)
        else:
            size = job.size or (1024, 1024)
        every_pixel = self.config.edit_changes_every_pixel
        grain = self.config.photographic
        transparent = job.background == "transparent"

        def render(index: int) -> Image.Image:
            if source is None:
                return _render_generation(job.prompt, index, size, transparent, grain)
            return _render_edit(source, mask, index, size, transparent, every_pixel)

        def render_encoded(index: int) -> bytes:
            if source is None:
                fmt, compression = job.output_format, job.compression
                return _encoded_generation(
                    job.prompt, index, size, transparent, fmt, compression, grain
                )
            return _encode(render(index), job.output_format, job.compression)

        latency = self._latency()
        if job.stream:
            final = await asyncio.to_thread(render, 0)
            return await self._stream(request, job, size, final, latency)
        await asyncio.sleep(latency)
        # One thread per image: Pillow releases the GIL while resizing and encoding.
        encoded = await asyncio.gather(
            *(asyncio.to_thread(render_encoded, index) for index in range(job.n))
        )
        body: dict[str, Any] = {
            "created": int(time.time()),
            "background": job.background,
            "data": [{"b64_json": base64.b64encode(data).decode()} for data in encoded],
            "output_format": job.output_format,
            "quality": job.quality,
            "size": f"{size[0]}x{size[1]}",
            "usage": _usage(job, size),
        }
        if job.safety_identifier:
            body["safety_identifier"] = job.safety_identifier
        self.served_images += job.n
        return web.json_response(body)

    async def _stream(
        self,
        request: web.Request,
        job: _Job,
        size: tuple[int, int],
        final: Image.Image,
        latency: float,
    ) -> web.StreamResponse:
        """Answer as Server-Sent Events: partial previews, then the completed image."""
        prefix = "image_generation" if job.endpoint == "generations" else "image_edit"
        common: dict[str, Any] = {
            "background": job.background,
            "output_format": job.output_format,
            "quality": job.quality,
            "size": f"{size[0]}x{size[1]}",
        }
        response = web.StreamResponse(headers={"Cache-Control": "no-cache"})
        response.content_type = "text/event-stream"
        await response.prepare(request)
        pause = latency / (job.partial_images + 1)  # the latency spreads over events
        # A client that hangs up mid-stream is normal (the SDK closes early on errors).
        with contextlib.suppress(ConnectionResetError):
            for index in range(job.partial_images):
                await asyncio.sleep(pause)
                preview = _partial(final, index, job.partial_images)
                data = await asyncio.to_thread(_encode, preview, job.output_format, job.compression)
                await response.write(
                    _sse(
                        f"{prefix}.partial_image",
                        {**common, "b64_json": base64.b64encode(data).decode()}
                        | {"created_at": int(time.time()), "partial_image_index": index},
                    )
                )
            await asyncio.sleep(pause)
            data = await asyncio.to_thread(_encode, final, job.output_format, job.compression)
            usage = _usage(job, size)
            del usage["output_tokens_details"]  # the stream event types have no such field
            completed: dict[str, Any] = {**common, "b64_json": base64.b64encode(data).decode()}
            completed |= {"created_at": int(time.time()), "usage": usage}
            if job.safety_identifier:
                completed["safety_identifier"] = job.safety_identifier
            await response.write(_sse(f"{prefix}.completed", completed))
            self.served_images += 1
            await response.write_eof()
        return response


async def _serve(host: str, port: int, config: FakeOpenAIConfig) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    # Explicit handlers, installed before the URL is announced: a background job may inherit an
    # ignored SIGINT, and SIGTERM should stop cleanly too. (Windows lacks them; Ctrl-C works.)
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(sig, stop.set)
    fake = FakeOpenAI(config)
    await fake.start(host, port)
    try:
        print(fake.base_url, flush=True)  # stdout carries only the URL, for scripts
        hint = f"export OPENAI_BASE_URL={fake.base_url} OPENAI_API_KEY={config.api_key}"
        print(f"Fake OpenAI Images API: {hint}  (Ctrl-C stops)", file=sys.stderr, flush=True)
        await stop.wait()
    finally:
        await fake.stop()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m tests.fake_openai",
        description="Run a local, strict, OpenAI-compatible Images API (no real model, no cost).",
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8600)
    parser.add_argument("--api-key", default="sk-test", help="the Bearer key to accept")
    parser.add_argument("--latency", type=float, default=0.0, help="seconds per image call")
    parser.add_argument(
        "--requests-per-minute",
        type=int,
        default=0,
        metavar="N",
        help="the account's request limit, answered with 429 above it (default 0: off)",
    )
    parser.add_argument(
        "--images-per-minute",
        type=int,
        default=0,
        metavar="N",
        help="the account's image limit, answered with 429 above it (default 0: off)",
    )
    parser.add_argument(
        "--photographic",
        action="store_true",
        help="grainy generations that are as large as real ones (~1.5 MB per 1024x1024 PNG)",
    )
    args = parser.parse_args(argv)
    config = FakeOpenAIConfig(
        api_key=args.api_key,
        latency_s=args.latency,
        # Records of a separate process can never be read, so keeping them would only grow memory.
        record_requests=False,
        rate_limit_requests_per_minute=args.requests_per_minute,
        rate_limit_images_per_minute=args.images_per_minute,
        photographic=args.photographic,
    )
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(_serve(args.host, args.port, config))


if __name__ == "__main__":
    main()
