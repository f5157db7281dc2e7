"""Every pixel decision: inputs, masks, border canvas, sizes for the provider, and results.

`Prep.plan` turns a request into what the provider is sent plus a `finish` function that makes
the provider's answer into the delivered image. Pillow work runs in worker threads.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Callable
from dataclasses import dataclass

from PIL import Image
from visionstudio.server.jobs.spec import AspectRatio, Background, ImageSource, JobSpec, Operation
from visionstudio.server.prep import finish
from visionstudio.server.prep.fetch import Fetcher
from visionstudio.server.prep.geometry import border_canvas
from visionstudio.server.prep.images import EncodedImage, InputImage, decode, for_provider
from visionstudio.server.prep.inpaint import InpaintJob
from visionstudio.server.prep.masks import edit_area
from visionstudio.server.provider.base import UploadFile
from visionstudio.server.provider.models import ModelRules

__all__ = ["EncodedImage", "Plan", "Prep"]


@dataclass(frozen=True)
class Plan:
    """What to ask the provider for, and how to turn each answer into the delivered image."""

    size: tuple[int, int]
    image: UploadFile | None
    mask: UploadFile | None
    finish: Callable[[bytes], EncodedImage]


class Prep:
    def __init__(self, fetcher: Fetcher, *, max_pixels: int) -> None:
        self._fetcher = fetcher
        self._max_pixels = max_pixels

    async def plan(self, spec: JobSpec, rules: ModelRules) -> Plan:
        transparent = spec.background is Background.TRANSPARENT
        if spec.operation is Operation.GENERATE:
            ratio = spec.aspect_ratio or AspectRatio.SQUARE
            done = functools.partial(
                finish.to_ratio, ratio=ratio, fmt=spec.output_format, transparent=transparent
            )
            return Plan(rules.size_for_ratio(ratio), None, None, done)
        assert spec.image is not None  # validation guarantees it
        source = await self._load(spec.image)
        if spec.operation is Operation.EDIT:
            ratio = spec.aspect_ratio or AspectRatio.closest_to(*source.size)
            done = functools.partial(
                finish.to_ratio, ratio=ratio, fmt=spec.output_format, transparent=transparent
            )
            upload = await asyncio.to_thread(for_provider, source)
            return Plan(rules.size_for_ratio(ratio), upload, None, done)
        if spec.inpaint_border_only:
            return await asyncio.to_thread(self._border_plan, spec, rules, source)
        assert spec.mask is not None
        mask = await self._load(spec.mask)
        return await asyncio.to_thread(self._mask_plan, spec, rules, source, mask, spec.mask.field)

    async def _load(self, src: ImageSource) -> InputImage:
        data = src.data if src.url is None else await self._fetcher.fetch(src.url, src.field)
        return await asyncio.to_thread(decode, data or b"", src.field, self._max_pixels)

    @staticmethod
    def _mask_plan(
        spec: JobSpec, rules: ModelRules, source: InputImage, mask: InputImage, mask_field: str
    ) -> Plan:
        area = edit_area(mask.image, source.size, mask_field)
        job = InpaintJob.create(source.image, area, rules.size_for_canvas(*source.size))
        image, provider_mask = job.uploads()
        done = functools.partial(job.finish, fmt=spec.output_format)
        return Plan(job.size, image, provider_mask, done)

    @staticmethod
    def _border_plan(spec: JobSpec, rules: ModelRules, source: InputImage) -> Plan:
        width, height = source.size
        canvas = border_canvas(width, height, spec.border_percentage)
        framed = Image.new(source.image.mode, (canvas.width, canvas.height))
        framed.paste(source.image, (canvas.left, canvas.top))
        area = Image.new("L", framed.size, 255)
        area.paste(0, canvas.inner_box(source.size))
        size = rules.size_for_canvas(canvas.width, canvas.height)
        job = InpaintJob.create(framed, area, size, keep=(source.image, (canvas.left, canvas.top)))
        image, provider_mask = job.uploads()
        done = functools.partial(job.finish, fmt=spec.output_format)
        return Plan(job.size, image, provider_mask, done)
