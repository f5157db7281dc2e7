"""Hostile inputs over real sockets (#15): each failed before its fix and passes now."""

from __future__ import annotations

import base64
import struct
import zlib

import grpc
import pytest
from PIL import Image, ImageChops
from visionstudio.image.v1 import image_service_pb2 as pb

from tests.support.calls import invalid_argument, rpc_error
from tests.support.harness import AUTH, Harness, collect, decode, images_of, rich_error
from tests.support.pictures import bw_mask, encode_png, photo


def _png_claiming(width: int, height: int) -> bytes:
    """A PNG whose header claims `width`x`height` (its pixel data is a few bytes)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(b"\0" * 16))
        + chunk(b"IEND", b"")
    )


@pytest.mark.parametrize("side", [7000, 50000])
async def test_a_header_claiming_too_many_pixels_gets_the_pixel_limit_message(
    harness: Harness, side: int
) -> None:
    call = harness.stub.EditImage(
        pb.EditImageRequest(prompt="x", image_file=_png_claiming(side, side)), metadata=AUTH
    )
    err = await invalid_argument(call, "image_file")
    assert "limit of 40000000 pixels" in (err.details() or "")


async def test_a_one_pixel_mark_in_a_huge_mask_survives_scaling(harness: Harness) -> None:
    mask = Image.new("L", (6000, 6000), 0)
    mask.putpixel((3000, 3000), 255)
    events = await collect(
        harness.stub.Inpaint(
            pb.InpaintRequest(
                prompt="a dot", image_file=encode_png(photo((256, 256))), mask_file=encode_png(mask)
            ),
            metadata=AUTH,
        )
    )
    assert len(images_of(events)) == 1


async def test_line_breaks_in_base64_are_fine_in_data_urls_as_in_image_file(
    harness: Harness,
) -> None:
    wrapped = base64.encodebytes(encode_png(photo((64, 64)))).decode()  # 76-column lines
    assert "\n" in wrapped
    events = await collect(
        harness.stub.EditImage(
            pb.EditImageRequest(prompt="x", image_url="data:image/png;base64," + wrapped),
            metadata=AUTH,
        )
    )
    assert len(images_of(events)) == 1


@pytest.mark.parametrize(
    "host",
    [
        "[64:ff9b::a9fe:a9fe]",  # NAT64 of 169.254.169.254 (cloud metadata)
        "[64:ff9b::7f00:1]",
        "[2002:a9fe:a9fe::1]",  # 6to4
        "[::a9fe:a9fe]",  # IPv4-compatible
        "[::ffff:10.0.0.1]",  # IPv4-mapped
    ],
)
async def test_ipv6_forms_of_private_ipv4_addresses_are_refused(
    harness: Harness, host: str
) -> None:
    call = harness.stub.EditImage(
        pb.EditImageRequest(prompt="x", image_url=f"http://{host}/latest/meta-data"),
        metadata=AUTH,
    )
    err = await invalid_argument(call, "image_url")
    assert rich_error(err)["reason"] == "URL_NOT_ALLOWED"


@pytest.mark.parametrize("token", ["not a token", "W10", "WzEsMl0", "Wy1JbmZpbml0eSwieCJd", "!!"])
async def test_a_malformed_page_token_is_invalid_argument_naming_it(
    harness: Harness, token: str
) -> None:
    err = await rpc_error(
        harness.stub.ListJobs(pb.ListJobsRequest(page_token=token), metadata=AUTH)
    )
    assert err.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert rich_error(err)["fields"] == ["page_token"]


@pytest.mark.parametrize("fmt", [pb.OUTPUT_FORMAT_PNG, pb.OUTPUT_FORMAT_WEBP])
async def test_inpaint_keeps_every_pixel_outside_the_mask_exactly(
    harness: Harness, fmt: pb.OutputFormat.ValueType
) -> None:
    original = photo((640, 480))
    box = (200, 150, 440, 330)
    (image,) = images_of(
        await collect(
            harness.stub.Inpaint(
                pb.InpaintRequest(
                    prompt="a door",
                    image_file=encode_png(original),
                    mask_file=bw_mask((640, 480), box),
                    output_format=fmt,
                    include_data=True,
                ),
                metadata=AUTH,
            )
        )
    )
    diff = ImageChops.difference(decode(image.data).convert("RGB"), original).convert("L")
    diff.paste(0, (box[0] - 12, box[1] - 12, box[2] + 12, box[3] + 12))
    assert diff.getbbox() is None


@pytest.mark.parametrize("fmt", [pb.OUTPUT_FORMAT_PNG, pb.OUTPUT_FORMAT_WEBP])
async def test_a_border_keeps_the_original_exactly(
    harness: Harness, fmt: pb.OutputFormat.ValueType
) -> None:
    original = photo((400, 300))
    (image,) = images_of(
        await collect(
            harness.stub.Inpaint(
                pb.InpaintRequest(
                    prompt="more sky",
                    image_file=encode_png(original),
                    inpaint_border_only=True,
                    border_percentage=0.1,
                    output_format=fmt,
                    include_data=True,
                ),
                metadata=AUTH,
            )
        )
    )
    result = decode(image.data).convert("RGB")
    assert result.size == (480, 360)
    inner = result.crop((40, 30, 440, 330))
    assert ImageChops.difference(inner, original).getbbox() is None


@pytest.mark.parametrize("harness", [{"max_canvas_pixels": 1_000_000}], indirect=True)
async def test_a_border_may_not_grow_the_canvas_past_its_limit(harness: Harness) -> None:
    call = harness.stub.Inpaint(
        pb.InpaintRequest(
            prompt="x",
            image_file=encode_png(photo((800, 800))),
            inpaint_border_only=True,
            border_percentage=0.5,
        ),
        metadata=AUTH,
    )
    err = await invalid_argument(call, "border_percentage")
    assert "1600x1600" in (err.details() or "")
