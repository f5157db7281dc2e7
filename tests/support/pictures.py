"""Pictures for image tests: one with detail everywhere, and masks in both conventions."""

from __future__ import annotations

import io

from PIL import Image


def encode_png(img: Image.Image) -> bytes:
    out = io.BytesIO()
    img.save(out, "PNG")
    return out.getvalue()


def photo(size: tuple[int, int]) -> Image.Image:
    """A picture with detail everywhere, so any changed pixel shows."""
    img = Image.linear_gradient("L").resize(size).convert("RGB")
    return Image.merge("RGB", (img.getchannel(0), img.getchannel(0).rotate(90), img.getchannel(0)))


def alpha_mask(size: tuple[int, int], box: tuple[int, int, int, int]) -> bytes:
    """OpenAI's convention: transparent where the picture is to be repainted."""
    mask = Image.new("RGBA", size, (0, 0, 0, 255))
    mask.paste((0, 0, 0, 0), box)
    return encode_png(mask)


def bw_mask(size: tuple[int, int], box: tuple[int, int, int, int]) -> bytes:
    """The black-and-white convention: white where the picture is to be repainted."""
    mask = Image.new("L", size, 0)
    mask.paste(255, box)
    return encode_png(mask)
