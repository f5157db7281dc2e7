"""Inpainting geometry: what the provider is sent, and how its answer is fitted back.

The canvas (the image, or the image inside its new border) is centred in a frame with the
provider size's ratio; the padding is marked for painting too and cropped away afterwards.
Image and mask go up at exactly the provider size, so its answer lines up pixel for pixel.

While the provider works (tens of seconds to minutes) a job keeps only what compositing
needs: the caller's image stays compressed (it is decoded again to finish) and the edit area
only around where it is set. The full-size canvas exists only while finishing, under the
pixel budget.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field

from PIL import Image, ImageStat
from visionstudio.server.prep.budget import PixelBudget
from visionstudio.server.prep.finish import encoded, open_result
from visionstudio.server.prep.geometry import Box, Placement, frame_with_ratio
from visionstudio.server.prep.images import EncodedImage, encode
from visionstudio.server.prep.masks import composite, feather_region, provider_mask, scale_area
from visionstudio.server.provider.base import UploadFile
from visionstudio.server.spec import OutputFormat

Size = tuple[int, int]


@dataclass(frozen=True)
class InpaintJob:
    # The caller's image, decoded again when the answer arrives.
    original: Callable[[], Image.Image] = field(repr=False)
    original_size: Size
    # The canvas is the original (at 0, 0) or the original inside its border (at its offset).
    canvas: Placement
    # The part of the canvas compositing changes, and the edit area (L, 255 = paint) inside it;
    # None for a border: everything but the original is the provider's.
    region: Box
    area: Image.Image | None = field(repr=False)
    size: Size
    frame: Placement
    budget: PixelBudget = field(repr=False)

    @classmethod
    def masked(
        cls,
        image: Image.Image,
        area: Image.Image,
        size: Size,
        original: Callable[[], Image.Image],
        budget: PixelBudget,
    ) -> tuple[InpaintJob, UploadFile, UploadFile]:
        """Inpaint `area` (L at the image's size) of `image`; the job and its two uploads."""
        canvas = Placement(image.width, image.height, 0, 0)
        frame = frame_with_ratio(image.width, image.height, *size)
        region = feather_region(area)
        job = cls(original, image.size, canvas, region, area.crop(region), size, frame, budget)
        uploaded, pos, scaled = job._provider_image(image)
        mask = Image.new("L", size, 255)
        mask.paste(scale_area(area, scaled), pos)
        return job, uploaded, UploadFile("mask.png", provider_mask(mask), "image/png")

    @classmethod
    def border(
        cls,
        image: Image.Image,
        canvas: Placement,
        size: Size,
        original: Callable[[], Image.Image],
        budget: PixelBudget,
    ) -> tuple[InpaintJob, UploadFile, UploadFile]:
        """Paint everything of `canvas` around `image`; the job and its two uploads."""
        frame = frame_with_ratio(canvas.width, canvas.height, *size)
        whole = (0, 0, canvas.width, canvas.height)
        job = cls(original, image.size, canvas, whole, None, size, frame, budget)
        uploaded, _, _ = job._provider_image(image)
        # Only provider pixels wholly inside the original are kept: the rest is painted.
        x, y = job._to_provider(canvas.left, canvas.top)
        mask = Image.new("L", size, 255)
        right, bottom = x + image.width * job._sx, y + image.height * job._sy
        kept = (math.ceil(x), math.ceil(y), math.floor(right), math.floor(bottom))
        if kept[2] > kept[0] and kept[3] > kept[1]:
            mask.paste(0, kept)
        return job, uploaded, UploadFile("mask.png", provider_mask(mask), "image/png")

    @property
    def _sx(self) -> float:
        return self.size[0] / self.frame.width

    @property
    def _sy(self) -> float:
        return self.size[1] / self.frame.height

    def _to_provider(self, x: float, y: float) -> tuple[float, float]:
        return (x + self.frame.left) * self._sx, (y + self.frame.top) * self._sy

    def _provider_image(self, image: Image.Image) -> tuple[UploadFile, Size, Size]:
        """The image scaled into place on a provider-size picture filled with its mean colour:
        the full-size canvas is never made. Also where it went and at what size."""
        x, y = self._to_provider(self.canvas.left, self.canvas.top)
        pos = (round(x), round(y))
        scaled = (max(1, round(image.width * self._sx)), max(1, round(image.height * self._sy)))
        fill = tuple(int(v) for v in ImageStat.Stat(image).mean)
        framed = Image.new(image.mode, self.size, fill)
        framed.paste(image.resize(scaled, Image.Resampling.LANCZOS), pos)
        data = encode(framed, OutputFormat.PNG, compress_level=1)
        return UploadFile("image.png", data, "image/png"), pos, scaled

    def finish(self, raw: bytes, fmt: OutputFormat) -> EncodedImage:
        """The provider's pixels inside the area, the original's elsewhere, exactly (PNG and
        WebP are lossless here), at the canvas's size."""
        canvas_pixels = self.canvas.width * self.canvas.height
        with self.budget.hold(canvas_pixels + self.original_size[0] * self.original_size[1]):
            result = open_result(raw)
            region = self.region
            # Scale back only the part of the answer that is used, straight from provider pixels.
            left, top = self._to_provider(region[0], region[1])
            right, bottom = self._to_provider(region[2], region[3])
            size = (region[2] - region[0], region[3] - region[1])
            repainted = result.resize(
                size, Image.Resampling.LANCZOS, box=(left, top, right, bottom)
            )
            del result
            original = self.original()
            if self.area is None:
                mode = "RGBA" if "A" in original.mode + repainted.mode else "RGB"
                out = repainted if repainted.mode == mode else repainted.convert(mode)
                out.paste(original.convert(out.mode), (self.canvas.left, self.canvas.top))
            else:
                out = composite(original, repainted, self.area, region)
            del original, repainted
            return encoded(out, fmt, exact=True)
