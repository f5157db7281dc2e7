"""`make demo`: the example inputs the README's commands use, drawn locally (no download).

Writes into the directory given (default `demo/`): `photo.png` (600x400, a house in a meadow),
the same as `photo.jpg`, `mask.png` (black and white: white marks the door to repaint) and
`batch.jsonl` (a batch of all three operations on them, for `visionstudio batch`).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from PIL import Image, ImageDraw, ImageFilter

SIZE = (600, 400)
DOOR = (270, 230, 330, 330)  # the box the mask marks


def photo() -> Image.Image:
    """A small scene with flat areas, soft gradients and sharp edges, like a photograph's."""
    sky = Image.linear_gradient("L").resize(SIZE).point(lambda v: 255 - v // 2)
    img = Image.merge("RGB", (sky.point(lambda v: v // 2), sky.point(lambda v: v * 3 // 4), sky))
    draw = ImageDraw.Draw(img)
    draw.ellipse((470, 40, 540, 110), fill=(255, 220, 120))  # the sun
    draw.rectangle((0, 300, 600, 400), fill=(70, 140, 60))  # the meadow
    draw.rectangle((200, 170, 400, 330), fill=(200, 170, 130))  # the house
    draw.polygon([(180, 175), (300, 90), (420, 175)], fill=(150, 50, 40))  # its roof
    draw.rectangle(DOOR, fill=(90, 60, 40))
    for x in (220, 345):
        draw.rectangle((x, 200, x + 35, 240), fill=(170, 210, 240), outline=(40, 40, 40), width=3)
    # A little blur and grain: real photographs have no perfectly flat colours.
    return img.filter(ImageFilter.GaussianBlur(0.6)).filter(ImageFilter.DETAIL)


def mask() -> Image.Image:
    out = Image.new("L", SIZE, 0)
    out.paste(255, DOOR)
    return out


# One reference request body per line, plus item_id; image_path and mask_path are relative to
# the file (the CLI reads them; over HTTP send image_file or image_url instead).
BATCH = [
    {"item_id": "castle", "prompt": "a castle on a hill", "number_of_images": 2,
     "aspect_ratio": "3:2", "quality": "high"},
    {"item_id": "fox", "prompt": "a fox sticker", "background": "transparent",
     "output_format": "webp"},
    {"item_id": "night", "prompt": "make it night", "image_path": "photo.jpg"},
    {"item_id": "door", "prompt": "a wooden door", "image_path": "photo.png",
     "mask_path": "mask.png"},
    {"item_id": "meadow", "prompt": "continue the meadow", "image_path": "photo.png",
     "inpaint_border_only": True, "border_percentage": 0.2},
]  # fmt: skip


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("directory", nargs="?", type=Path, default=Path("demo"))
    args = parser.parse_args(argv)
    args.directory.mkdir(parents=True, exist_ok=True)
    picture = photo()
    picture.save(args.directory / "photo.png")
    picture.save(args.directory / "photo.jpg", quality=90)
    mask().save(args.directory / "mask.png")
    lines = (json.dumps(item) for item in BATCH)
    (args.directory / "batch.jsonl").write_text("".join(f"{line}\n" for line in lines))
    for name in ("photo.png", "photo.jpg", "mask.png", "batch.jsonl"):
        print(args.directory / name)


if __name__ == "__main__":
    main()
