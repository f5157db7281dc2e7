"""The interface every upstream backend implements: render one image per call."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Protocol

from visionstudio.server.provider.models import ModelRules
from visionstudio.server.spec import Background, OutputFormat, Quality, Usage

# Receives (partial_image_index, encoded preview) while an image renders.
OnPartial = Callable[[int, bytes], Awaitable[None]]


@dataclass(frozen=True)
class UploadFile:
    """A file as the upstream wants it: with a name and a real MIME type."""

    filename: str
    data: bytes = field(repr=False)
    mime_type: str


@dataclass(frozen=True)
class RenderRequest:
    """One upstream call producing one image; `image` set means an edit."""

    prompt: str
    size: tuple[int, int]
    quality: Quality
    background: Background
    output_format: OutputFormat
    image: UploadFile | None = None
    mask: UploadFile | None = None
    timeout_s: float | None = None
    # Previews to stream while rendering (0..3); they reach `on_partial` of `render`.
    partial_images: int = 0
    # The API key id the call is made for (fair sharing of the provider's rate budget).
    caller: str = ""


@dataclass(frozen=True)
class RenderedImage:
    data: bytes = field(repr=False)
    usage: Usage
    # The deployment that made it (set by the pool; recorded with the image).
    deployment: str = ""


class ImageProvider(Protocol):
    @property
    def rules(self) -> ModelRules: ...

    async def render(
        self, request: RenderRequest, on_partial: OnPartial | None = None
    ) -> RenderedImage:
        """Returns the encoded image; raises visionstudio.server.errors.ServiceError.
        With `request.partial_images`, previews go to `on_partial(number, encoded bytes)`."""
        ...

    async def reachable(self) -> bool:
        """Whether the upstream answers at all (any HTTP answer counts); costs nothing."""
        ...

    async def close(self) -> None: ...
