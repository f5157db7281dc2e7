"""Real, deterministic images: generations drawn from the prompt, edits recolored from the input."""

from __future__ import annotations

import functools
import hashlib
import io
import random
from dataclasses import dataclass

from PIL import Image, ImageChops, ImageDraw

# Standard deviation of the grain that makes generations compress like photographs.
_GRAIN_SIGMA = 12


@dataclass(frozen=True)
class Renderer:
    """The images of one call: drawn from the prompt, or recolored from an edit's `source`."""

    prompt: str
    size: tuple[int, int]
    transparent: bool
    fmt: str
    compression: int
    grain: bool  # generations only
    source: Image.Image | None = None
    mask: Image.Image | None = None
    every_pixel: bool = True  # edits only: recolor outside the mask too

    def image(self, index: int) -> Image.Image:
        if self.source is None:
            return render_generation(self.prompt, index, self.size, self.transparent, self.grain)
        return render_edit(
            self.source, self.mask, index, self.size, self.transparent, self.every_pixel
        )

    def encoded(self, index: int) -> bytes:
        if self.source is None:
            return encoded_generation(
                self.prompt,
                index,
                self.size,
                self.transparent,
                self.fmt,
                self.compression,
                self.grain,
            )
        return encode(self.image(index), self.fmt, self.compression)


def render_generation(
    prompt: str, index: int, size: tuple[int, int], alpha: bool, grain: bool = False
) -> Image.Image:
    """A gradient plus shapes seeded by the prompt and the index, so every image differs;
    `grain` adds noise so that it compresses like a photograph."""
    w, h = size
    rng = random.Random(hashlib.sha256(f"{index}\0{prompt}".encode()).digest())

    def color() -> tuple[int, int, int]:
        return rng.randrange(256), rng.randrange(256), rng.randrange(256)

    corners = Image.new("RGB", (2, 2))
    corners.putdata([color() for _ in range(4)])
    img = corners.resize(size, Image.Resampling.BILINEAR)
    draw = ImageDraw.Draw(img)
    for _ in range(rng.randint(3, 7)):
        x, y = rng.randrange(w), rng.randrange(h)
        box = (x, y, x + rng.randint(w // 10, w // 3), y + rng.randint(h // 10, h // 3))
        (draw.ellipse if rng.random() < 0.5 else draw.rectangle)(box, fill=color())
    if grain:
        noise = Image.effect_noise(size, _GRAIN_SIGMA).convert("RGB")
        img = ImageChops.add(img, noise, 1.0, -128)
    if alpha:  # an opaque subject on a genuinely transparent background
        mask = Image.new("L", size, 0)
        ImageDraw.Draw(mask).ellipse((w // 8, h // 8, w * 7 // 8, h * 7 // 8), fill=255)
        img.putalpha(mask)
    return img


@functools.lru_cache(maxsize=16)
def encoded_generation(
    prompt: str,
    index: int,
    size: tuple[int, int],
    alpha: bool,
    fmt: str,
    compression: int,
    grain: bool,
) -> bytes:
    """Generations are deterministic, so a repeated one (a load benchmark sends one prompt many
    times) reuses its bytes instead of taking CPU from the server measured on the same host."""
    return encode(render_generation(prompt, index, size, alpha, grain), fmt, compression)


def render_edit(
    source: Image.Image,
    mask: Image.Image | None,
    index: int,
    size: tuple[int, int],
    transparent: bool,
    every_pixel: bool,
) -> Image.Image:
    """The input resized and recolored; a channel shift of 128 (+12 per index) changes every
    channel of every pixel, so callers can prove which pixels they restored."""
    base = source.convert("RGBA")
    if base.size != size:
        base = base.resize(size, Image.Resampling.BILINEAR)
    shift = (128 + 12 * index) % 256
    lut = [(v + shift) % 256 for v in range(256)]
    *rgb, alpha = base.split()
    out = Image.merge("RGB", [band.point(lut) for band in rgb])
    if mask is not None and not every_pixel:
        area = mask.convert("RGBA").getchannel("A").resize(size, Image.Resampling.NEAREST)
        out = Image.composite(out, base.convert("RGB"), area.point(lambda a: 255 if a == 0 else 0))
    if transparent:
        out.putalpha(alpha)
    return out


def partial(final: Image.Image, index: int, total: int) -> Image.Image:
    """A coarser preview of the final image: the later the partial, the sharper."""
    factor = 2 ** (total - index + 2)
    small = final.resize((max(1, final.width // factor), max(1, final.height // factor)))
    return small.resize(final.size, Image.Resampling.BILINEAR)


def encode(img: Image.Image, fmt: str, compression: int) -> bytes:
    buf = io.BytesIO()
    if fmt == "png":
        img.save(buf, "PNG", compress_level=1)  # speed over size: these bytes never leave the host
    elif fmt == "jpeg":
        img.convert("RGB").save(buf, "JPEG", quality=compression)
    else:
        img.save(buf, "WEBP", quality=compression, method=0)
    return buf.getvalue()
