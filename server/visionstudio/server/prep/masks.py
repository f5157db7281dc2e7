"""Masks: accept both conventions, normalise to the provider's, and restore untouched pixels.

The rule: a mask with any pixel whose alpha is below 255 uses the alpha convention (transparent
marks the area to edit); any other mask is read by brightness (white, or grey at or above 50%,
marks the area to edit). Internally an "area" is an L image where 255 means "edit here".
"""

from __future__ import annotations

import io

from PIL import Image, ImageChops, ImageFilter
from visionstudio.server.errors import InvalidArgument
from visionstudio.server.prep.geometry import Box
from visionstudio.server.prep.images import has_alpha

FEATHER_PX = 3


def edit_area(mask: Image.Image, size: tuple[int, int], field_name: str) -> Image.Image:
    alpha = mask.convert("RGBA").getchannel("A") if has_alpha(mask) else None
    if alpha is not None and _low(alpha) < 255:
        area = ImageChops.invert(alpha)
    else:
        area = mask.convert("L")
    area = scale_area(_binary(area), size)
    if _high(area) == 0:
        raise InvalidArgument(
            field_name,
            "marks nothing to edit: use transparent pixels (PNG with alpha) or white pixels "
            "(black and white mask) for the area to change",
        )
    if _low(area) == 255:
        raise InvalidArgument(
            field_name, "covers the whole image; use EditImage to change everything"
        )
    return area


def _binary(area: Image.Image) -> Image.Image:
    return area.point(lambda v: 255 if v >= 128 else 0)


def scale_area(area: Image.Image, size: tuple[int, int]) -> Image.Image:
    """A binary area at another size. Shrinking keeps every marked pixel's cell marked (a
    one-pixel mark in a 6000x6000 mask still edits something at 1024x1024); growing keeps
    the shape."""
    if area.size == size:
        return area
    if size[0] * size[1] < area.width * area.height:
        # Averaged in floats (in 8 bits one pixel of 500 rounds to 0), then any share counts.
        shares = area.convert("F").resize(size, Image.Resampling.BOX)
        return shares.point(lambda v: v * 1e9).convert("L").point(lambda v: 255 if v else 0)
    return _binary(area.resize(size, Image.Resampling.BILINEAR))


def _low(band: Image.Image) -> int:
    low: int = band.getextrema()[0]  # type: ignore[assignment]
    return low


def _high(band: Image.Image) -> int:
    high: int = band.getextrema()[1]  # type: ignore[assignment]
    return high


def provider_mask(area: Image.Image) -> bytes:
    """The provider's convention: a PNG with alpha, alpha 0 where it should paint."""
    rgba = Image.new("RGBA", area.size, (0, 0, 0, 255))
    rgba.putalpha(ImageChops.invert(area))
    out = io.BytesIO()
    rgba.save(out, "PNG")
    return out.getvalue()


def feather_region(area: Image.Image) -> Box:
    """The part of the image compositing can change: the area plus room for the feather."""
    box = area.getbbox() or (0, 0, 0, 0)
    pad = 4 * FEATHER_PX
    return (
        max(0, box[0] - pad),
        max(0, box[1] - pad),
        min(area.width, box[2] + pad),
        min(area.height, box[3] + pad),
    )


def composite(
    original: Image.Image, repainted: Image.Image, area: Image.Image, region: Box
) -> Image.Image:
    """`original`, with `repainted` blended in where `area` is set, over a few pixels at its
    edge; `repainted` and `area` cover `region`. Only `region` is touched, so pixels farther
    than about three feather radii from the area are exactly the original's, and big images
    with small masks stay cheap."""
    mode = "RGBA" if "A" in (original.mode + repainted.mode) else "RGB"
    out = original if original.mode == mode else original.convert(mode)
    feathered = area.filter(ImageFilter.GaussianBlur(FEATHER_PX))
    blended = Image.composite(repainted.convert(mode), out.crop(region), feathered)
    out.paste(blended, region[:2])
    return out
