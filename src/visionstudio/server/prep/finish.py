"""Turning what the provider returned into what the caller asked for."""

from __future__ import annotations

import io

from PIL import Image

from visionstudio.server.errors import Unavailable
from visionstudio.server.prep.geometry import BorderCanvas, centered_box, largest_with_ratio
from visionstudio.server.prep.images import EncodedImage, encode, probe
from visionstudio.server.prep.masks import composite
from visionstudio.server.spec import AspectRatio, OutputFormat

_PIL_FORMAT = {OutputFormat.PNG: "PNG", OutputFormat.JPEG: "JPEG", OutputFormat.WEBP: "WEBP"}


def _open(raw: bytes) -> Image.Image:
    try:
        img = Image.open(io.BytesIO(raw))
        img.load()
    except (OSError, SyntaxError, ValueError) as exc:
        raise Unavailable("the image provider returned an unreadable image") from exc
    return img


def _encoded(img: Image.Image, fmt: OutputFormat) -> EncodedImage:
    return EncodedImage(encode(img, fmt), fmt.mime_type, img.width, img.height)


def to_ratio(raw: bytes, ratio: AspectRatio, fmt: OutputFormat, transparent: bool) -> EncodedImage:
    """Exactly `ratio` (centre crop when the model's size differs), in `fmt`.

    When the provider already delivered that, its bytes are passed on untouched.
    """
    try:
        found_format, width, height, mode = probe(raw)
    except (OSError, SyntaxError, ValueError) as exc:
        raise Unavailable("the image provider returned an unreadable image") from exc
    target = largest_with_ratio(width, height, ratio)
    if (
        (width, height) == target
        and found_format == _PIL_FORMAT[fmt]
        and (not transparent or "A" in mode or mode == "P")
    ):
        return EncodedImage(raw, fmt.mime_type, width, height)
    img = _open(raw)
    if (width, height) != target:
        img = img.crop(centered_box(width, height, target))
    img = img.convert("RGBA" if transparent or "A" in img.mode else "RGB")
    return _encoded(img, fmt)


def inpainted(
    raw: bytes, original: Image.Image, area: Image.Image, fmt: OutputFormat
) -> EncodedImage:
    """The provider's pixels inside `area`, the original's elsewhere, at the original's size."""
    return _encoded(composite(original, _open(raw), area), fmt)


def border_filled(
    raw: bytes,
    original: Image.Image,
    canvas: BorderCanvas,
    area: Image.Image,
    fmt: OutputFormat,
) -> EncodedImage:
    """The expanded canvas: the generated border around the untouched original."""
    framed = Image.new(original.mode, (canvas.width, canvas.height))
    framed.paste(original, (canvas.left, canvas.top))
    out = composite(framed, _open(raw), area)
    # The feather must not reach into the original: put its pixels back exactly.
    out.paste(original.convert(out.mode), (canvas.left, canvas.top))
    return _encoded(out, fmt)
