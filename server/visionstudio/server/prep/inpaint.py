"""Inpainting geometry: what the provider is sent, and how its answer is fitted back.

The canvas (the image, or the image inside its new border) is centred in a frame with the
provider size's ratio; the padding is marked for painting too and cropped away afterwards.
Image and mask go up at exactly the provider size, so its answer lines up pixel for pixel.
"""

from __future__ import annotations

import io
from dataclasses import dataclass, field

from PIL import Image, ImageStat
from visionstudio.server.jobs.spec import OutputFormat
from visionstudio.server.prep.finish import encoded, open_result
from visionstudio.server.prep.geometry import Placement, frame_with_ratio
from visionstudio.server.prep.images import EncodedImage
from visionstudio.server.prep.masks import composite, feather_region, provider_mask
from visionstudio.server.provider.base import UploadFile


@dataclass(frozen=True)
class InpaintJob:
    canvas: Image.Image = field(repr=False)
    # L image, 255 where the provider should paint.
    area: Image.Image = field(repr=False)
    size: tuple[int, int]
    frame: Placement
    # Pixels pasted back exactly after compositing (the original inside a new border).
    keep: tuple[Image.Image, tuple[int, int]] | None = field(default=None, repr=False)

    @classmethod
    def create(
        cls,
        canvas: Image.Image,
        area: Image.Image,
        size: tuple[int, int],
        keep: tuple[Image.Image, tuple[int, int]] | None = None,
    ) -> InpaintJob:
        frame = frame_with_ratio(canvas.width, canvas.height, *size)
        return cls(canvas, area, size, frame, keep)

    def uploads(self) -> tuple[UploadFile, UploadFile]:
        """The image and the mask for the provider, both exactly `size`."""
        fill = tuple(int(v) for v in ImageStat.Stat(self.canvas).mean)
        framed = Image.new(self.canvas.mode, (self.frame.width, self.frame.height), fill)
        framed.paste(self.canvas, (self.frame.left, self.frame.top))
        framed_area = Image.new("L", framed.size, 255)
        framed_area.paste(self.area, (self.frame.left, self.frame.top))
        image = framed.resize(self.size, Image.Resampling.LANCZOS)
        area = framed_area.resize(self.size, Image.Resampling.BILINEAR)
        area = area.point(lambda v: 255 if v >= 128 else 0)
        out = io.BytesIO()
        image.save(out, "PNG", compress_level=1)
        return (
            UploadFile("image.png", out.getvalue(), "image/png"),
            UploadFile("mask.png", provider_mask(area), "image/png"),
        )

    def finish(self, raw: bytes, fmt: OutputFormat) -> EncodedImage:
        """The provider's pixels inside the area, the canvas's elsewhere, at the canvas's size."""
        result = open_result(raw)
        region = feather_region(self.area)
        # Scale back only the part of the answer that is used, straight from provider pixels.
        sx = result.width / self.frame.width
        sy = result.height / self.frame.height
        source = (
            (region[0] + self.frame.left) * sx,
            (region[1] + self.frame.top) * sy,
            (region[2] + self.frame.left) * sx,
            (region[3] + self.frame.top) * sy,
        )
        size = (region[2] - region[0], region[3] - region[1])
        repainted = result.resize(size, Image.Resampling.LANCZOS, box=source)
        out = composite(self.canvas, repainted, self.area, region)
        if self.keep is not None:
            # The feather must not reach into the original: put its pixels back exactly.
            original, at = self.keep
            out.paste(original.convert(out.mode), at)
        return encoded(out, fmt)
