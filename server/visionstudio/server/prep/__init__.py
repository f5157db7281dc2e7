"""Every pixel decision: inputs, masks, border canvas, sizes for the provider, and results.

`Prep.plan` turns a request into what the provider is sent plus a `finish` function that makes
the provider's answer into the delivered image. Pillow work runs in worker threads, under one
budget of the pixels held decoded at once.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Callable
from dataclasses import dataclass, field

from PIL import Image
from visionstudio.server.errors import InvalidArgument
from visionstudio.server.prep import finish
from visionstudio.server.prep.budget import PixelBudget
from visionstudio.server.prep.fetch import Fetcher
from visionstudio.server.prep.geometry import border_canvas
from visionstudio.server.prep.images import (
    EncodedImage,
    InputImage,
    decode,
    for_provider,
    header_pixels,
    png_as_is,
)
from visionstudio.server.prep.inpaint import InpaintJob
from visionstudio.server.prep.masks import edit_area
from visionstudio.server.provider.base import UploadFile
from visionstudio.server.provider.models import ModelRules
from visionstudio.server.spec import AspectRatio, Background, ImageSource, JobSpec, Operation

__all__ = ["EncodedImage", "PixelBudget", "Plan", "Prep"]


@dataclass(frozen=True)
class Plan:
    """What to ask the provider for, and how to turn each answer into the delivered image."""

    size: tuple[int, int]
    image: UploadFile | None
    mask: UploadFile | None
    finish: Callable[[bytes], EncodedImage]


class Prep:
    def __init__(
        self, fetcher: Fetcher, *, max_pixels: int, max_canvas_pixels: int, budget: PixelBudget
    ) -> None:
        self._fetcher = fetcher
        self._max_pixels = max_pixels
        self._max_canvas_pixels = max_canvas_pixels
        self._budget = budget

    async def plan(self, spec: JobSpec, rules: ModelRules) -> Plan:
        transparent = spec.background is Background.TRANSPARENT
        if spec.operation is Operation.GENERATE:
            ratio = spec.aspect_ratio or AspectRatio.SQUARE
            done = functools.partial(
                finish.to_ratio, ratio=ratio, fmt=spec.output_format, transparent=transparent
            )
            return Plan(rules.size_for_ratio(ratio), None, None, done)
        assert spec.image is not None  # validation guarantees it
        source = await self._fetch(spec.image)
        if spec.operation is Operation.EDIT:
            return await asyncio.to_thread(self._edit_plan, spec, rules, source)
        if spec.inpaint_border_only:
            return await asyncio.to_thread(self._border_plan, spec, rules, source)
        assert spec.mask is not None
        mask = await self._fetch(spec.mask)
        return await asyncio.to_thread(self._mask_plan, spec, rules, source, mask)

    async def _fetch(self, src: ImageSource) -> _Input:
        data = src.data if src.url is None else await self._fetcher.fetch(src.url, src.field)
        return _Input(data or b"", src.field)

    def _decode(self, src: _Input) -> InputImage:
        return decode(src.data, src.field, self._max_pixels)

    def _pixels(self, *inputs: _Input) -> int:
        # A header claiming more than the limit is refused before decoding: charge the limit.
        return sum(min(header_pixels(src.data), self._max_pixels) for src in inputs)

    # The plans run in worker threads, each holding the pixels it decodes.
    def _edit_plan(self, spec: JobSpec, rules: ModelRules, src: _Input) -> Plan:
        as_is = png_as_is(src.data, self._max_pixels)
        if as_is is None:
            with self._budget.hold(self._pixels(src)):
                source = self._decode(src)
                as_is = for_provider(source), source.size
        upload, size = as_is
        ratio = spec.aspect_ratio or AspectRatio.closest_to(*size)
        transparent = spec.background is Background.TRANSPARENT
        done = functools.partial(
            finish.to_ratio, ratio=ratio, fmt=spec.output_format, transparent=transparent
        )
        return Plan(rules.size_for_ratio(ratio), upload, None, done)

    def _mask_plan(self, spec: JobSpec, rules: ModelRules, src: _Input, mask_src: _Input) -> Plan:
        with self._budget.hold(2 * self._pixels(src) + self._pixels(mask_src)):
            source = self._decode(src)
            mask = decode(mask_src.data, mask_src.field, self._max_pixels)
            area = edit_area(mask.image, source.size, mask_src.field)
            del mask
            size = rules.size_for_canvas(*source.size)
            original = functools.partial(self._original, src)
            job, image, provider_mask = InpaintJob.masked(
                source.image, area, size, original, self._budget
            )
        return Plan(
            job.size, image, provider_mask, functools.partial(job.finish, fmt=spec.output_format)
        )

    def _border_plan(self, spec: JobSpec, rules: ModelRules, src: _Input) -> Plan:
        with self._budget.hold(self._pixels(src)):
            source = self._decode(src)
            width, height = source.size
            canvas = border_canvas(width, height, spec.border_percentage)
            if canvas.width * canvas.height > self._max_canvas_pixels:
                raise InvalidArgument(
                    "border_percentage",
                    f"grows the {width}x{height} image to {canvas.width}x{canvas.height} "
                    f"pixels, over the limit of {self._max_canvas_pixels} pixels; use a smaller "
                    "border or image",
                )
            size = rules.size_for_canvas(canvas.width, canvas.height)
            original = functools.partial(self._original, src)
            job, image, provider_mask = InpaintJob.border(
                source.image, canvas, size, original, self._budget
            )
        return Plan(
            job.size, image, provider_mask, functools.partial(job.finish, fmt=spec.output_format)
        )

    def _original(self, src: _Input) -> Image.Image:
        return self._decode(src).image


@dataclass(frozen=True)
class _Input:
    """A caller's image as it arrived (still compressed), and the field it came in."""

    data: bytes = field(repr=False)
    field: str
