"""One image from the OpenAI Images API: the call's parameters, the streamed previews, usage."""

from __future__ import annotations

import base64
from typing import Any

import openai
from openai import AsyncOpenAI
from visionstudio.server.errors import Unavailable
from visionstudio.server.observability import tracing
from visionstudio.server.provider.answers import image_bytes, unreadable
from visionstudio.server.provider.base import OnPartial, RenderedImage, RenderRequest
from visionstudio.server.provider.upstream_errors import map_openai_error
from visionstudio.server.spec import Background, Usage


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
    call = client.images.edit if request.image is not None else client.images.generate
    try:
        if request.partial_images and on_partial is not None:
            return await _streamed(call, params, request, on_partial, upstream)
        response = await call(**params)
    except openai.APIError as exc:
        raise map_openai_error(exc) from exc
    except ValueError:
        # The SDK parses a 200 as JSON whatever its type: JSONDecodeError, UnicodeDecodeError.
        raise unreadable(upstream) from None
    if not isinstance(response, openai.types.ImagesResponse):
        # The SDK hands back a str when the body was not JSON (an HTML page, say).
        raise unreadable(upstream)
    b64 = response.data[0].b64_json if response.data else None
    data = image_bytes(b64, request.size, upstream)
    return RenderedImage(data=data, usage=_usage(response.usage))


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
                await on_partial(event.partial_image_index, base64.b64decode(event.b64_json))
            elif event.type.endswith(".completed"):
                data = image_bytes(event.b64_json, request.size, upstream)
                return RenderedImage(data=data, usage=_usage(event.usage))
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
