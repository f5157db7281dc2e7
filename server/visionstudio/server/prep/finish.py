"""Turning what the provider returned into what the caller asked for."""

from __future__ import annotations

import io

from PIL import Image
from visionstudio.server.errors import Unavailable
from visionstudio.server.prep.geometry import centered_box, largest_with_ratio
from visionstudio.server.prep.images import EncodedImage, encode, probe
from visionstudio.server.spec import AspectRatio, OutputFormat

_PIL_FORMAT = {OutputFormat.PNG: "PNG", OutputFormat.JPEG: "JPEG", OutputFormat.WEBP: "WEBP"}


def open_result(raw: bytes) -> Image.Image:
    try:
        img = Image.open(io.BytesIO(raw))
        img.load()
    except (OSError, SyntaxError, ValueError) as exc:
        raise Unavailable("the image provider returned an unreadable image") from exc
    return img


def encoded(img: Image.Image, fmt: OutputFormat, *, exact: bool = False) -> EncodedImage:
    return EncodedImage(encode(img, fmt, exact=exact), fmt.mime_type, img.width, img.height)


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
    img = open_result(raw)
    if (width, height) != target:
        img = img.crop(centered_box(width, height, target))
    img = img.convert("RGBA" if transparent or "A" in img.mode else "RGB")
    return encoded(img, fmt)
