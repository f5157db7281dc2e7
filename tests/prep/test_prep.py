"""Pixel functions, with images made on the fly."""

from __future__ import annotations

import io

import pytest
from PIL import Image
from visionstudio.server.errors import InvalidArgument
from visionstudio.server.prep import finish
from visionstudio.server.prep.geometry import border_canvas, largest_with_ratio
from visionstudio.server.prep.images import decode, for_provider, png_as_is
from visionstudio.server.prep.masks import edit_area, provider_mask
from visionstudio.server.spec import AspectRatio, OutputFormat


def _encode(img: Image.Image, fmt: str = "PNG") -> bytes:
    out = io.BytesIO()
    img.save(out, fmt)
    return out.getvalue()


def test_border_canvas_matches_the_reference_example() -> None:
    canvas = border_canvas(600, 400, 0.2)
    assert (canvas.width, canvas.height, canvas.left, canvas.top) == (840, 560, 120, 80)


def test_largest_with_ratio() -> None:
    assert largest_with_ratio(1536, 1024, AspectRatio.LANDSCAPE_16_9) == (1536, 864)
    assert largest_with_ratio(1024, 1536, AspectRatio.PORTRAIT_3_4) == (1023, 1364)


def test_provider_bytes_pass_through_untouched_when_nothing_is_needed() -> None:
    raw = _encode(Image.new("RGB", (1536, 1024), (1, 2, 3)))
    out = finish.to_ratio(raw, AspectRatio.LANDSCAPE_3_2, OutputFormat.PNG, transparent=False)
    assert out.data is raw


def test_results_are_cropped_and_converted_when_needed() -> None:
    raw = _encode(Image.new("RGB", (1536, 1024), (1, 2, 3)))
    out = finish.to_ratio(raw, AspectRatio.LANDSCAPE_16_9, OutputFormat.JPEG, transparent=False)
    img = Image.open(io.BytesIO(out.data))
    assert (img.format, img.size, out.mime_type) == ("JPEG", (1536, 864), "image/jpeg")


def test_alpha_and_brightness_masks_mean_the_same_area() -> None:
    alpha = Image.new("RGBA", (100, 100), (0, 0, 0, 255))
    alpha.paste((0, 0, 0, 0), (10, 10, 50, 50))
    bw = Image.new("L", (50, 50), 0)
    bw.paste(255, (5, 5, 25, 25))
    a = edit_area(alpha, (100, 100), "mask_file")
    b = edit_area(bw.convert("RGB"), (100, 100), "mask_file")
    assert a.getbbox() == b.getbbox() == (10, 10, 50, 50)
    provider = Image.open(io.BytesIO(provider_mask(a)))
    assert provider.mode == "RGBA" and provider.getpixel((20, 20)) == (0, 0, 0, 0)
    assert provider.getpixel((80, 80)) == (0, 0, 0, 255)


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"", "not a readable"),
        (b"GIF89a" + b"\0" * 10, "corrupt"),
        (_encode(Image.new("RGB", (64, 64)))[:60], "corrupt"),
    ],
)
def test_bad_images_are_refused_naming_the_field(data: bytes, message: str) -> None:
    with pytest.raises(InvalidArgument) as caught:
        decode(data, "image_file", max_pixels=10_000_000)
    assert caught.value.violations[0].field == "image_file"
    assert message in caught.value.message or "not a readable" in caught.value.message


def test_pixel_bombs_are_refused_from_the_header() -> None:
    big = _encode(Image.new("1", (6000, 6000)))
    with pytest.raises(InvalidArgument, match="pixels"):
        decode(big, "image_file", max_pixels=20_000_000)


def test_cmyk_and_16_bit_inputs_are_normalised_for_the_provider() -> None:
    cmyk = decode(_encode(Image.new("CMYK", (32, 32)), "JPEG"), "image_file", 10**7)
    grey16 = decode(_encode(Image.new("I;16", (32, 32))), "image_file", 10**7)
    for img in (cmyk, grey16):
        upload = for_provider(img)
        assert upload.mime_type == "image/png"
        assert Image.open(io.BytesIO(upload.data)).mode in ("RGB", "RGBA")


def test_a_plain_png_goes_upstream_unchanged_from_its_header() -> None:
    raw = _encode(Image.new("RGB", (96, 64), (1, 2, 3)))
    found = png_as_is(raw, max_pixels=10_000)
    assert found is not None
    upload, size = found
    assert upload.data is raw and upload.mime_type == "image/png" and size == (96, 64)


@pytest.mark.parametrize(
    "raw",
    [
        _encode(Image.new("RGB", (64, 64)))[:-20],  # truncated: decoding names the fault
        _encode(Image.new("P", (64, 64))),  # palette: converted first
        _encode(Image.new("RGB", (64, 64)), "JPEG"),
        _encode(Image.new("RGB", (200, 200))),  # over the pixel limit: decoding refuses it
    ],
)
def test_anything_else_is_left_to_decoding(raw: bytes) -> None:
    assert png_as_is(raw, max_pixels=10_000) is None


def test_a_damaged_chunk_is_caught_without_decoding() -> None:
    raw = bytearray(_encode(Image.new("RGB", (64, 64), (9, 9, 9))))
    raw[-30] ^= 0xFF  # inside the image data: its CRC no longer matches
    assert png_as_is(bytes(raw), max_pixels=10_000) is None
