"""Inpaint end to end: masks in both conventions, untouched pixels, border expansion."""

from __future__ import annotations

import grpc
import pytest
from PIL import Image, ImageChops
from visionstudio.image.v1 import image_service_pb2 as pb

from tests.fake_openai import FakeOpenAI
from tests.support.harness import AUTH, Harness, collect, decode, images_of, png, rich_error


def _photo(size: tuple[int, int]) -> Image.Image:
    """A picture with detail everywhere, so any changed pixel shows."""
    img = Image.linear_gradient("L").resize(size).convert("RGB")
    return Image.merge("RGB", (img.getchannel(0), img.getchannel(0).rotate(90), img.getchannel(0)))


def _png(img: Image.Image) -> bytes:
    import io

    out = io.BytesIO()
    img.save(out, "PNG")
    return out.getvalue()


def _alpha_mask(size: tuple[int, int], box: tuple[int, int, int, int]) -> bytes:
    mask = Image.new("RGBA", size, (0, 0, 0, 255))
    mask.paste((0, 0, 0, 0), box)
    return _png(mask)


def _bw_mask(size: tuple[int, int], box: tuple[int, int, int, int]) -> bytes:
    mask = Image.new("L", size, 0)
    mask.paste(255, box)
    return _png(mask)


@pytest.mark.parametrize("make_mask", [_alpha_mask, _bw_mask])
async def test_only_the_masked_area_changes(
    harness: Harness, upstream: FakeOpenAI, make_mask: object
) -> None:
    original = _photo((640, 480))
    box = (200, 150, 440, 330)
    # The mask is sent at another size on purpose: the service scales it to the image.
    mask = make_mask((320, 240), tuple(v // 2 for v in box))  # type: ignore[operator]
    events = await collect(
        harness.stub.Inpaint(
            pb.InpaintRequest(
                prompt="a red door", image_file=_png(original), mask_file=mask, include_data=True
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


async def test_border_expansion_keeps_the_original_in_the_middle(
    harness: Harness, upstream: FakeOpenAI
) -> None:
    original = _photo((600, 400))
    events = await collect(
        harness.stub.Inpaint(
            pb.InpaintRequest(
                prompt="continue the meadow",
                image_file=_png(original),
                inpaint_border_only=True,
                border_percentage=0.2,
                include_data=True,
            ),
            metadata=AUTH,
        )
    )
    (image,) = images_of(events)
    result = decode(image.data).convert("RGB")
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
    original = _photo((1200, 300))
    events = await collect(
        harness.stub.Inpaint(
            pb.InpaintRequest(
                prompt="more sky",
                image_file=_png(original),
                inpaint_border_only=True,
                border_percentage=0.1,
                include_data=True,
            ),
            metadata=AUTH,
        )
    )
    (image,) = images_of(events)
    result = decode(image.data).convert("RGB")
    assert result.size == (1440, 360)
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
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await collect(harness.stub.Inpaint(request_, metadata=AUTH))
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert rich_error(caught.value)["fields"] == [field]
    assert upstream.requests == []
