"""Successful answers: the JSON body, the Server-Sent Events stream, and the usage they report."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import time
from collections.abc import Callable
from typing import Any

from aiohttp import web
from PIL import Image

from tests.fake_openai.job import Job
from tests.fake_openai.render import encode, partial

# Output tokens of one 1024x1024 image per quality; other sizes scale with their pixel count.
_OUTPUT_TOKENS = {"low": 272, "medium": 1056, "high": 4160, "xhigh": 8320, "max": 16640}
_PARTIAL_IMAGE_TOKENS = 100
_INPUT_IMAGE_TOKENS = 65


def usage(job: Job, size: tuple[int, int]) -> dict[str, Any]:
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


def images_body(job: Job, size: tuple[int, int], encoded: list[bytes]) -> dict[str, Any]:
    """The ImagesResponse of a call that does not stream."""
    body: dict[str, Any] = {
        "created": int(time.time()),
        "background": job.background,
        "data": [{"b64_json": _b64(data)} for data in encoded],
        "output_format": job.output_format,
        "quality": job.quality,
        "size": f"{size[0]}x{size[1]}",
        "usage": usage(job, size),
    }
    if job.safety_identifier:
        body["safety_identifier"] = job.safety_identifier
    return body


async def stream_answer(
    request: web.Request,
    job: Job,
    size: tuple[int, int],
    final: Image.Image,
    latency: float,
    served: Callable[[], None],
) -> web.StreamResponse:
    """Answer as Server-Sent Events: partial previews, then the completed image (`served`
    is called once it is written)."""
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
            preview = partial(final, index, job.partial_images)
            data = await asyncio.to_thread(encode, preview, job.output_format, job.compression)
            event = {**common, "b64_json": _b64(data)}
            event |= {"created_at": int(time.time()), "partial_image_index": index}
            await response.write(_sse(f"{prefix}.partial_image", event))
        await asyncio.sleep(pause)
        data = await asyncio.to_thread(encode, final, job.output_format, job.compression)
        await response.write(_sse(f"{prefix}.completed", _completed(job, size, common, data)))
        served()
        await response.write_eof()
    return response


def _completed(
    job: Job, size: tuple[int, int], common: dict[str, Any], data: bytes
) -> dict[str, Any]:
    stream_usage = usage(job, size)
    del stream_usage["output_tokens_details"]  # the stream event types have no such field
    completed: dict[str, Any] = {**common, "b64_json": _b64(data)}
    completed |= {"created_at": int(time.time()), "usage": stream_usage}
    if job.safety_identifier:
        completed["safety_identifier"] = job.safety_identifier
    return completed


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def _sse(event: str, data: dict[str, Any]) -> bytes:
    # The SDK picks the event class from the "type" field of the data, so it repeats the event.
    return f"event: {event}\ndata: {json.dumps({'type': event, **data})}\n\n".encode()
