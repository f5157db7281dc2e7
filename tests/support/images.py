"""Images made on the spot for tests and benchmarks, and reading them back."""

from __future__ import annotations

import io

from PIL import Image


def png(size: tuple[int, int], color: tuple[int, ...] = (200, 40, 40), mode: str = "RGB") -> bytes:
    """A flat image of one colour, PNG-encoded."""
    out = io.BytesIO()
    Image.new(mode, size, color).save(out, "PNG")
    return out.getvalue()


def photo(side: int) -> Image.Image:
    """Noise over a gradient: compresses like a photograph, not like a flat test card."""
    noise = Image.effect_noise((side, side), 40).convert("L")
    gradient = Image.linear_gradient("L").resize((side, side))
    return Image.merge("RGB", (noise, gradient, gradient.rotate(90)))


def decode(data: bytes) -> Image.Image:
    img = Image.open(io.BytesIO(data))
    img.load()
    return img
