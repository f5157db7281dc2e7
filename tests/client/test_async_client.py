"""AsyncImageClient against the recording server: requests, metadata, deadlines and events."""

import io

import pytest
from PIL import Image
from visionstudio.client import AsyncImageClient
from visionstudio.image.v1 import image_service_pb2 as pb

from tests.client.conftest import Server
from tests.support.harness import collect, png


def kinds(events: list[pb.ImageEvent]) -> list[str | None]:
    return [event.WhichOneof("event") for event in events]


async def test_generate_streams_events_with_key_and_mapped_enums(server: Server) -> None:
    async with AsyncImageClient(server.target, "key-1") as client:
        events = await collect(
            client.generate(
                "a lighthouse",
                number_of_images=2,
                aspect_ratio="16:9",
                quality="high",
                background="transparent",
                output_format="webp",
                include_data=True,
                timeout=30,
            )
        )

    assert kinds(events) == ["accepted", "image", "image", "summary"]
    assert [event.image.index for event in events[1:3]] == [1, 0]
    assert Image.open(io.BytesIO(events[1].image.data)).size == (6, 4)
    assert events[3].summary.usage.total_tokens == 430
    assert server.servicer.requests == [
        pb.GenerateImageRequest(
            prompt="a lighthouse",
            number_of_images=2,
            aspect_ratio=pb.ASPECT_RATIO_16_9,
            quality=pb.QUALITY_HIGH,
            background=pb.BACKGROUND_TRANSPARENT,
            output_format=pb.OUTPUT_FORMAT_WEBP,
            include_data=True,
        )
    ]
    assert server.servicer.metadata[0]["x-api-key"] == "key-1"
    assert server.servicer.time_remaining == [pytest.approx(30, abs=1)]


async def test_enum_numbers_and_prebuilt_requests_under_the_client_deadline(
    server: Server,
) -> None:
    request = pb.GenerateImageRequest(
        prompt="a fox", aspect_ratio=pb.ASPECT_RATIO_2_3, quality=pb.QUALITY_LOW
    )
    async with AsyncImageClient(server.target, "key-1", timeout=20) as client:
        await collect(
            client.generate("a fox", aspect_ratio=pb.ASPECT_RATIO_2_3, quality=pb.QUALITY_LOW)
        )
        await collect(client.generate_request(request))

    assert server.servicer.requests == [request, request]
    assert server.servicer.time_remaining == [pytest.approx(20, abs=1)] * 2


async def test_edit_sends_a_str_image_as_url_and_bytes_as_file(server: Server) -> None:
    data = png((4, 4), (0, 128, 0))
    async with AsyncImageClient(server.target, "key-1") as client:
        await collect(client.edit("make it night", "https://example.test/a.png"))
        await collect(client.edit("make it night", data, aspect_ratio="3:2"))

    by_url, by_file = server.servicer.requests
    assert isinstance(by_url, pb.EditImageRequest) and isinstance(by_file, pb.EditImageRequest)
    assert by_url.WhichOneof("image") == "image_url"
    assert by_url.image_url == "https://example.test/a.png"
    assert by_file.WhichOneof("image") == "image_file"
    assert by_file.image_file == data
    assert by_file.aspect_ratio == pb.ASPECT_RATIO_3_2


async def test_inpaint_sends_mask_or_border(server: Server) -> None:
    image, mask = png((4, 4), (255, 255, 255)), png((4, 4), (0, 0, 0))
    async with AsyncImageClient(server.target, "key-1") as client:
        await collect(client.inpaint("a boat", image, mask=mask))
        await collect(
            client.inpaint(
                "a boat", "https://example.test/i.png", mask="https://example.test/m.png"
            )
        )
        await collect(
            client.inpaint("a boat", image, inpaint_border_only=True, border_percentage=0.2)
        )

    with_file, with_url, border = server.servicer.requests
    assert isinstance(with_file, pb.InpaintRequest)
    assert isinstance(with_url, pb.InpaintRequest)
    assert isinstance(border, pb.InpaintRequest)
    assert with_file.mask_file == mask and with_file.image_file == image
    assert with_url.mask_url == "https://example.test/m.png"
    assert with_url.image_url == "https://example.test/i.png"
    assert border.WhichOneof("mask") is None
    assert border.inpaint_border_only
    assert border.border_percentage == pytest.approx(0.2)


async def test_unknown_enum_value_raises_naming_the_argument(server: Server) -> None:
    async with AsyncImageClient(server.target, "key-1") as client:
        with pytest.raises(ValueError, match="aspect_ratio '5:4'"):
            client.generate("a cat", aspect_ratio="5:4")
        with pytest.raises(ValueError, match="background 'HIGH'"):
            client.edit("a cat", b"image", background="HIGH")
        with pytest.raises(ValueError, match="quality 'ultra'"):
            client.inpaint("a cat", b"image", quality="ultra")
        with pytest.raises(ValueError, match="output_format value 9"):
            client.generate("a cat", output_format=9)
    assert server.servicer.requests == []
