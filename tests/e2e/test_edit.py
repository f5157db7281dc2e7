"""EditImage end to end: inputs by bytes and by URL reach the upstream in a form it accepts."""

from __future__ import annotations

import io

import pytest
from PIL import Image
from visionstudio.image.v1 import image_service_pb2 as pb

from tests.fake_openai import FakeOpenAI
from tests.support.calls import invalid_argument
from tests.support.harness import (
    AUTH,
    Harness,
    ImageHost,
    collect,
    decode,
    images_of,
    png,
)


async def test_edit_from_bytes_keeps_the_input_ratio_by_default(
    harness: Harness, upstream: FakeOpenAI
) -> None:
    source = png((600, 400))
    events = await collect(
        harness.stub.EditImage(
            pb.EditImageRequest(prompt="make it blue", image_file=source, include_data=True),
            metadata=AUTH,
        )
    )
    (image,) = images_of(events)
    assert (image.width, image.height) == (1536, 1024)  # 600x400 is 3:2
    sent = upstream.requests[-1]
    assert sent.endpoint == "edits" and sent.fields["size"] == "1536x1024"
    ((filename, content_type, data),) = next(iter(sent.files.values()))
    assert (filename, content_type, data) == ("image.png", "image/png", source)


async def test_edit_by_url_with_several_results_and_a_ratio(
    harness: Harness, upstream: FakeOpenAI, image_host: ImageHost
) -> None:
    url = image_host.put("photo.png", png((512, 512)), content_type="application/octet-stream")
    events = await collect(
        harness.stub.EditImage(
            pb.EditImageRequest(
                prompt="in the style of a woodcut",
                image_url=url,
                number_of_images=2,
                aspect_ratio=pb.ASPECT_RATIO_16_9,
                include_data=True,
            ),
            metadata=AUTH,
        )
    )
    images = images_of(events)
    assert sorted(i.index for i in images) == [0, 1]
    assert all((i.width, i.height) == (1280, 720) for i in images)
    assert all(decode(i.data).size == (1280, 720) for i in images)
    assert len(upstream.requests) == 2


async def test_redirects_are_followed(harness: Harness, image_host: ImageHost) -> None:
    image_host.put("target.png", png((512, 512)))
    url = f"http://127.0.0.1:{image_host.port}/redirect-target.png"
    events = await collect(
        harness.stub.EditImage(pb.EditImageRequest(prompt="x", image_url=url), metadata=AUTH)
    )
    assert len(images_of(events)) == 1


async def test_gif_and_exif_rotated_inputs_are_converted_for_the_upstream(
    harness: Harness, upstream: FakeOpenAI
) -> None:
    gif = io.BytesIO()
    Image.new("P", (300, 200)).save(gif, "GIF")
    jpeg = io.BytesIO()
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 degrees on display: 300x200 stored, 200x300 shown
    Image.new("RGB", (300, 200), (10, 200, 10)).save(jpeg, "JPEG", exif=exif)
    for data, shown in [(gif.getvalue(), (300, 200)), (jpeg.getvalue(), (200, 300))]:
        await collect(
            harness.stub.EditImage(pb.EditImageRequest(prompt="x", image_file=data), metadata=AUTH)
        )
        ((_, content_type, sent),) = next(iter(upstream.requests[-1].files.values()))
        assert content_type == "image/png"
        assert decode(sent).size == shown


@pytest.mark.parametrize(
    ("request_", "field"),
    [
        (pb.EditImageRequest(prompt="x"), "image_url"),
        (pb.EditImageRequest(prompt="x", image_file=b"not an image at all"), "image_file"),
        (pb.EditImageRequest(prompt="x", image_file=png((64, 64))[:80]), "image_file"),
        (pb.EditImageRequest(prompt="x", image_url="ftp://example.com/a.png"), "image_url"),
        (pb.EditImageRequest(prompt="", image_file=png((64, 64))), "prompt"),
    ],
)
async def test_bad_inputs_are_refused_naming_the_field(
    harness: Harness, upstream: FakeOpenAI, request_: pb.EditImageRequest, field: str
) -> None:
    await invalid_argument(harness.stub.EditImage(request_, metadata=AUTH), field)
    assert upstream.requests == []


async def test_missing_url_is_refused(harness: Harness, image_host: ImageHost) -> None:
    url = f"http://127.0.0.1:{image_host.port}/nothing.png"
    call = harness.stub.EditImage(pb.EditImageRequest(prompt="x", image_url=url), metadata=AUTH)
    err = await invalid_argument(call, "image_url")
    assert "HTTP 404" in (err.details() or "")
