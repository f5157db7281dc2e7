"""One image from the OpenAI Images API: the call's parameters, the streamed previews, usage."""

from __future__ import annotations

import base64
from typing import Any

import openai
from openai import AsyncOpenAI
from visionstudio.server.errors import Unavailable
from visionstudio.server.jobs.spec import Background, Usage
from visionstudio.server.observability import tracing
from visionstudio.server.provider.base import OnPartial, RenderedImage, RenderRequest
from visionstudio.server.provider.upstream_errors import map_openai_error


async def render_once(
    client: AsyncOpenAI,
    model: str,
    request: RenderRequest,
    timeout_s: float,
    on_partial: OnPartial | None,
) -> RenderedImage:
    """One n=1 call; raises the domain error of any failure."""
    params = _params(model, request, timeout_s)
    call = client.images.edit if request.image is not None else client.images.generate
    try:
        if request.partial_images and on_partial is not None:
            return await _streamed(call, params, request.partial_images, on_partial)
        response = await call(**params)
    except openai.APIError as exc:
        raise map_openai_error(exc) from exc
    if not response.data or not response.data[0].b64_json:
        raise Unavailable("the provider answered without an image", reason="UPSTREAM_EMPTY")
    return RenderedImage(
        data=base64.b64decode(response.data[0].b64_json), usage=_usage(response.usage)
    )


def _params(model: str, request: RenderRequest, timeout_s: float) -> dict[str, Any]:
    params: dict[str, Any] = {
        "model": model,
        "prompt": request.prompt,
        "n": 1,
        "size": f"{request.size[0]}x{request.size[1]}",
        "quality": request.quality.value,
        "output_format": request.output_format.value,
        "timeout": timeout_s,
    }
    # `auto` is the API's own default; leaving it out keeps requests valid on every model.
    if request.background is not Background.AUTO:
        params["background"] = request.background.value
    # The upstream request continues this trace (W3C traceparent of the attempt's span).
    if headers := tracing.outgoing_headers():
        params["extra_headers"] = headers
    if request.image is not None:
        params["image"] = (request.image.filename, request.image.data, request.image.mime_type)
    if request.mask is not None:
        params["mask"] = (request.mask.filename, request.mask.data, request.mask.mime_type)
    return params


async def _streamed(
    call: Any, params: dict[str, Any], partial_images: int, on_partial: OnPartial
) -> RenderedImage:
    """The streaming mode (n=1 only): previews as they come, then the final image."""
    stream = await call(**params, stream=True, partial_images=partial_images)
    async with stream:
        async for event in stream:
            if event.type.endswith(".partial_image"):
                await on_partial(event.partial_image_index, base64.b64decode(event.b64_json))
            elif event.type.endswith(".completed"):
                return RenderedImage(
                    data=base64.b64decode(event.b64_json), usage=_usage(event.usage)
                )
    raise Unavailable("the provider's stream ended without an image", reason="UPSTREAM_EMPTY")


def _usage(usage: Any) -> Usage:
    """Usage from a response or a completed stream event (the two types share these fields)."""
    if usage is None:
        return Usage()
    return Usage(
        input_tokens=usage.input_tokens,
        input_text_tokens=usage.input_tokens_details.text_tokens,
        input_image_tokens=usage.input_tokens_details.image_tokens,
        output_tokens=usage.output_tokens,
        total_tokens=usage.total_tokens,
    )
