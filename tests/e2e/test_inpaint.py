"""Inpaint end to end: masks in both conventions, untouched pixels, border expansion."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from PIL import Image, ImageChops
from visionstudio.image.v1 import image_service_pb2 as pb

from tests.fake_openai import FakeOpenAI
from tests.support.calls import invalid_argument
from tests.support.harness import AUTH, Harness, collect, decode, images_of, png
from tests.support.pictures import alpha_mask, bw_mask, encode_png, photo

# A JPEG result (quality 95, 4:2:0 chroma) differed outside the mask by at most 69 levels in one
# channel (at sharp colour edges of the demo photo; 41 on the gradient), as the README says.
# Encoding is deterministic, so the bound sits close.
JPEG_MAX_DIFFERENCE = 80


@pytest.mark.parametrize("make_mask", [alpha_mask, bw_mask])
async def test_only_the_masked_area_changes(
    harness: Harness, upstream: FakeOpenAI, make_mask: object
) -> None:
    original = photo((640, 480))
    box = (200, 150, 440, 330)
    # The mask is sent at another size on purpose: the service scales it to the image.
    mask = make_mask((320, 240), tuple(v // 2 for v in box))  # type: ignore[operator]
    events = await collect(
        harness.stub.Inpaint(
            pb.InpaintRequest(
                prompt="a red door",
                image_file=encode_png(original),
                mask_file=mask,
                include_data=True,
            ),
            metadata=AUTH,
        )
    )
    (image,) = images_of(events)
    result = decode(image.data).convert("RGB")
    assert result.size == (640, 480)
    diff = ImageChops.difference(result, original).convert("L")
    margin = 12  # the feathered edge
    outside = diff.copy()
    outside.paste(0, (box[0] - margin, box[1] - margin, box[2] + margin, box[3] + margin))
    assert outside.getbbox() is None, "pixels outside the mask changed"
    inner = diff.crop((box[0] + margin, box[1] + margin, box[2] - margin, box[3] - margin))
    assert inner.getextrema()[0] > 0, "the masked area was not repainted"  # type: ignore[operator]

    # Image and mask go up at exactly the size asked for, so the answer lines up with them.
    sent = upstream.requests[-1]
    ((_, mime, mask_sent),) = sent.files["mask"]
    ((_, _, image_sent),) = next(v for k, v in sent.files.items() if k.startswith("image"))
    provider_mask = decode(mask_sent)
    width, height = map(int, sent.fields["size"].split("x"))
    assert mime == "image/png" and provider_mask.mode == "RGBA"
    assert provider_mask.size == decode(image_sent).size == (width, height)
    assert provider_mask.getpixel((width // 2, height // 2))[3] == 0  # type: ignore[index]
    assert provider_mask.getpixel((10, height // 2))[3] == 255  # type: ignore[index]


async def _expand(
    harness: Harness, size: tuple[int, int], prompt: str, fraction: float
) -> tuple[Image.Image, pb.Image, Image.Image]:
    """A photo of `size` inpainted on its border only, by `fraction` on every side: (the photo,
    the one image delivered, that image decoded)."""
    original = photo(size)
    request = pb.InpaintRequest(
        prompt=prompt,
        image_file=encode_png(original),
        inpaint_border_only=True,
        border_percentage=fraction,
        include_data=True,
    )
    (image,) = images_of(await collect(harness.stub.Inpaint(request, metadata=AUTH)))
    return original, image, decode(image.data).convert("RGB")


async def test_border_expansion_keeps_the_original_in_the_middle(
    harness: Harness, upstream: FakeOpenAI
) -> None:
    original, image, result = await _expand(harness, (600, 400), "continue the meadow", 0.2)
    assert result.size == (840, 560) == (image.width, image.height)
    middle = result.crop((120, 80, 720, 480))
    assert ImageChops.difference(middle, original).getbbox() is None
    assert ImageChops.difference(
        result.crop((0, 0, 840, 60)), Image.new("RGB", (840, 60))
    ).getbbox()
    width, height = map(int, upstream.requests[-1].fields["size"].split("x"))
    assert width % 16 == 0 and height % 16 == 0 and abs(width / height - 1.5) < 0.05


async def test_a_panorama_beyond_three_to_one_is_framed_not_squashed(
    harness: Harness, upstream: FakeOpenAI
) -> None:
    original, image, result = await _expand(harness, (1200, 300), "more sky", 0.1)
    assert result.size == (1440, 360) == (image.width, image.height)
    assert ImageChops.difference(result.crop((120, 30, 1320, 330)), original).getbbox() is None
    width, height = map(int, upstream.requests[-1].fields["size"].split("x"))
    assert width / height == pytest.approx(3, rel=0.02)  # the widest the model takes


@pytest.mark.parametrize(
    ("request_", "field"),
    [
        (pb.InpaintRequest(prompt="x", image_file=png((64, 64))), "mask_url"),
        (
            pb.InpaintRequest(
                prompt="x", image_file=png((64, 64)), mask_file=png((64, 64), (0, 0, 0))
            ),
            "mask_file",
        ),
        (
            pb.InpaintRequest(
                prompt="x", image_file=png((64, 64)), mask_file=png((64, 64), (255, 255, 255))
            ),
            "mask_file",
        ),
        (
            pb.InpaintRequest(
                prompt="x",
                image_file=png((64, 64)),
                inpaint_border_only=True,
                border_percentage=0.6,
            ),
            "border_percentage",
        ),
        (
            pb.InpaintRequest(
                prompt="x", image_file=png((64, 64)), inpaint_border_only=True, border_percentage=0
            ),
            "border_percentage",
        ),
        (
            pb.InpaintRequest(
                prompt="x",
                image_file=png((64, 64)),
                mask_file=png((64, 64)),
                inpaint_border_only=True,
                border_percentage=0.2,
            ),
            "mask_file",
        ),
    ],
)
async def test_bad_inpaint_requests_are_refused(
    harness: Harness, upstream: FakeOpenAI, request_: pb.InpaintRequest, field: str
) -> None:
    await invalid_argument(harness.stub.Inpaint(request_, metadata=AUTH), field)
    assert upstream.requests == []


def _demo_inputs(directory: Path) -> tuple[Image.Image, bytes]:
    """`make demo`'s photo and mask, written by its script."""
    subprocess.run([sys.executable, "tools/demo_inputs.py", str(directory)], check=True)
    return Image.open(directory / "photo.png").convert("RGB"), (directory / "mask.png").read_bytes()


@pytest.mark.parametrize("picture", ["gradient", "demo"])
async def test_jpeg_keeps_the_outside_of_the_mask_within_its_own_error(
    harness: Harness, picture: str, tmp_path: Path
) -> None:
    """JPEG cannot be lossless: what the README promises for it is this measured bound."""
    original, mask = _demo_inputs(tmp_path)
    box = decode(mask).getbbox()
    assert box is not None
    if picture == "gradient":
        original = photo(original.size)
    request = pb.InpaintRequest(
        prompt="a blue door",
        image_file=encode_png(original),
        mask_file=mask,
        output_format=pb.OUTPUT_FORMAT_JPEG,
        include_data=True,
    )
    (image,) = images_of(await collect(harness.stub.Inpaint(request, metadata=AUTH)))
    assert image.mime_type == "image/jpeg"
    diff = ImageChops.difference(decode(image.data).convert("RGB"), original)
    margin = 12  # the feathered edge
    diff.paste((0, 0, 0), (box[0] - margin, box[1] - margin, box[2] + margin, box[3] + margin))
    worst = max(high for _, high in diff.getextrema())  # type: ignore[misc]
    assert 0 < worst <= JPEG_MAX_DIFFERENCE
