"""One image from the OpenAI Images API: the call's parameters, the streamed previews, usage."""

from __future__ import annotations

import asyncio
from typing import Any

import openai
import pybase64
from openai import AsyncOpenAI
from visionstudio.server.errors import Unavailable
from visionstudio.server.observability import tracing
from visionstudio.server.provider.answers import image_bytes, parsed_answer, unreadable, usage_of
from visionstudio.server.provider.base import OnPartial, RenderedImage, RenderRequest
from visionstudio.server.provider.upstream_errors import map_openai_error
from visionstudio.server.spec import Background


async def render_once(
    client: AsyncOpenAI,
    model: str,
    request: RenderRequest,
    timeout_s: float,
    on_partial: OnPartial | None,
    upstream: str,
) -> RenderedImage:
    """One n=1 call; raises the domain error of any failure. `upstream` names the deployment
    in the errors of answers that cannot be used."""
    params = _params(model, request, timeout_s)
    edit = request.image is not None
    try:
        if request.partial_images and on_partial is not None:
            call = client.images.edit if edit else client.images.generate
            return await _streamed(call, params, request, on_partial, upstream)
        # The raw body, not the SDK's parsed model: its json + pydantic + base64 would copy
        # the ~4 MB answer several times on the event loop (see `parsed_answer`).
        raw = client.images.with_raw_response
        response = await (raw.edit if edit else raw.generate)(**params)
    except openai.APIError as exc:
        raise map_openai_error(exc) from exc
    except ValueError:
        # The SDK parses a streamed event as JSON whatever it holds.
        raise unreadable(upstream) from None
    data, usage = await asyncio.to_thread(parsed_answer, response.content, request.size, upstream)
    return RenderedImage(data=data, usage=usage)


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
    call: Any,
    params: dict[str, Any],
    request: RenderRequest,
    on_partial: OnPartial,
    upstream: str,
) -> RenderedImage:
    """The streaming mode (n=1 only): previews as they come, then the final image."""
    stream = await call(**params, stream=True, partial_images=request.partial_images)
    async with stream:
        async for event in stream:
            if event.type.endswith(".partial_image"):
                await on_partial(event.partial_image_index, pybase64.b64decode(event.b64_json))
            elif event.type.endswith(".completed"):
                data = image_bytes(event.b64_json, request.size, upstream)
                usage = usage_of(event.usage.model_dump() if event.usage else None)
                return RenderedImage(data=data, usage=usage)
    raise Unavailable("the provider's stream ended without an image", reason="UPSTREAM_EMPTY")
