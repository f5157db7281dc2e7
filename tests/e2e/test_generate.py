"""GenerateImage end to end: real server, real sockets, generated stubs, loopback upstream."""

from __future__ import annotations

import sqlite3

import aiohttp
import pytest
from visionstudio.image.v1 import image_service_pb2 as pb

from tests.fake_openai import FakeOpenAI
from tests.support.calls import invalid_argument
from tests.support.harness import AUTH, Harness, collect, decode, images_of


async def test_one_image_is_stored_served_and_summarised(
    harness: Harness, upstream: FakeOpenAI
) -> None:
    events = await collect(
        harness.stub.GenerateImage(
            pb.GenerateImageRequest(prompt="a lighthouse at dawn", include_data=True),
            metadata=AUTH,
        )
    )
    kinds = [e.WhichOneof("event") for e in events]
    assert kinds == ["accepted", "image", "summary"]
    accepted, image, summary = events[0].accepted, events[1].image, events[2].summary
    assert accepted.number_of_images == 1 and accepted.model == "gpt-image-2.5-flare"
    assert summary.job_id == accepted.job_id and summary.images_delivered == 1
    assert summary.usage.output_tokens > 0
    assert summary.usage.total_tokens == summary.usage.input_tokens + summary.usage.output_tokens
    assert (image.index, image.width, image.height, image.mime_type) == (0, 1024, 1024, "image/png")
    assert decode(image.data).size == (1024, 1024)
    assert image.size_bytes == len(image.data)

    # The URL serves the stored image without an API key, as a browser would load it.
    async with aiohttp.ClientSession() as http, http.get(image.url) as resp:
        assert resp.status == 200
        assert resp.content_type == "image/png"
        assert await resp.read() == image.data

    sent = upstream.requests[-1]
    assert sent.endpoint == "generations"
    assert sent.fields["model"] == "gpt-image-2.5-flare" and sent.fields["n"] == 1


@pytest.mark.parametrize(
    ("ratio", "size"),
    [
        (pb.ASPECT_RATIO_UNSPECIFIED, (1024, 1024)),
        (pb.ASPECT_RATIO_1_1, (1024, 1024)),
        (pb.ASPECT_RATIO_2_3, (1024, 1536)),
        (pb.ASPECT_RATIO_3_2, (1536, 1024)),
        (pb.ASPECT_RATIO_3_4, (768, 1024)),
        (pb.ASPECT_RATIO_4_3, (1024, 768)),
        (pb.ASPECT_RATIO_9_16, (720, 1280)),
        (pb.ASPECT_RATIO_16_9, (1280, 720)),
    ],
)
async def test_every_aspect_ratio_is_delivered_exactly(
    harness: Harness, upstream: FakeOpenAI, ratio: int, size: tuple[int, int]
) -> None:
    events = await collect(
        harness.stub.GenerateImage(
            pb.GenerateImageRequest(prompt="a fox", aspect_ratio=ratio, include_data=True),  # type: ignore[arg-type]
            metadata=AUTH,
        )
    )
    (image,) = images_of(events)
    assert (image.width, image.height) == size
    assert decode(image.data).size == size
    assert upstream.requests[-1].fields["size"] == f"{size[0]}x{size[1]}"


async def test_several_images_run_concurrently_and_each_is_streamed(
    harness: Harness, upstream: FakeOpenAI
) -> None:
    upstream.config.latency_s = 0.3
    events = await collect(
        harness.stub.GenerateImage(
            pb.GenerateImageRequest(prompt="four cats", number_of_images=4, quality=pb.QUALITY_LOW),
            metadata=AUTH,
        )
    )
    images = images_of(events)
    assert sorted(i.index for i in images) == [0, 1, 2, 3]
    assert len({i.image_id for i in images}) == 4
    assert all(not i.data for i in images)  # include_data was not asked for
    assert events[-1].summary.images_delivered == 4
    assert len(upstream.requests) == 4 and upstream.max_in_flight == 4
    assert all(r.fields["n"] == 1 and r.fields["quality"] == "low" for r in upstream.requests)


async def test_transparent_background_has_real_alpha(
    harness: Harness, upstream: FakeOpenAI
) -> None:
    events = await collect(
        harness.stub.GenerateImage(
            pb.GenerateImageRequest(
                prompt="a sticker", background=pb.BACKGROUND_TRANSPARENT, include_data=True
            ),
            metadata=AUTH,
        )
    )
    (image,) = images_of(events)
    img = decode(image.data)
    assert image.mime_type == "image/png" and img.format == "PNG" and img.mode == "RGBA"
    low, high = img.getchannel("A").getextrema()
    assert low == 0 and high == 255
    assert upstream.requests[-1].fields["background"] == "transparent"


@pytest.mark.parametrize(
    ("fmt", "mime", "pil"),
    [(pb.OUTPUT_FORMAT_JPEG, "image/jpeg", "JPEG"), (pb.OUTPUT_FORMAT_WEBP, "image/webp", "WEBP")],
)
async def test_output_format(harness: Harness, fmt: int, mime: str, pil: str) -> None:
    events = await collect(
        harness.stub.GenerateImage(
            pb.GenerateImageRequest(prompt="a bowl", output_format=fmt, include_data=True),  # type: ignore[arg-type]
            metadata=AUTH,
        )
    )
    (image,) = images_of(events)
    assert image.mime_type == mime and decode(image.data).format == pil
    async with aiohttp.ClientSession() as http, http.get(image.url) as resp:
        assert resp.content_type == mime


@pytest.mark.parametrize(
    ("request_", "field"),
    [
        (pb.GenerateImageRequest(prompt=""), "prompt"),
        (pb.GenerateImageRequest(prompt="   "), "prompt"),
        (pb.GenerateImageRequest(prompt="x" * 32001), "prompt"),
        (pb.GenerateImageRequest(prompt="a", aspect_ratio=99), "aspect_ratio"),  # type: ignore[arg-type]
        (pb.GenerateImageRequest(prompt="a", quality=42), "quality"),  # type: ignore[arg-type]
        (pb.GenerateImageRequest(prompt="a", number_of_images=11), "number_of_images"),
        (pb.GenerateImageRequest(prompt="a", number_of_images=-1), "number_of_images"),
        (
            pb.GenerateImageRequest(
                prompt="a",
                background=pb.BACKGROUND_TRANSPARENT,
                output_format=pb.OUTPUT_FORMAT_JPEG,
            ),
            "output_format",
        ),
    ],
)
async def test_bad_requests_are_refused_naming_the_field(
    harness: Harness, upstream: FakeOpenAI, request_: pb.GenerateImageRequest, field: str
) -> None:
    err = await invalid_argument(harness.stub.GenerateImage(request_, metadata=AUTH), field)
    assert field in (err.details() or "")
    assert upstream.requests == []  # refused before any paid work


async def test_job_is_recorded_without_image_bytes(harness: Harness) -> None:
    events = await collect(
        harness.stub.GenerateImage(
            pb.GenerateImageRequest(prompt="two owls", number_of_images=2), metadata=AUTH
        )
    )
    job_id = events[0].accepted.job_id
    with sqlite3.connect(harness.data_dir / "jobs.sqlite3") as db:
        row = db.execute(
            "SELECT rpc, status, params, image_ids, usage, caller FROM jobs WHERE id = ?", (job_id,)
        ).fetchone()
    rpc, status, params, image_ids, usage, caller = row
    assert (rpc, status) == ("generate", "succeeded")
    assert '"prompt": "two owls"' in params
    assert sorted(image_ids.count(i.image_id) for i in images_of(events)) == [1, 1]
    assert '"output_tokens"' in usage
    assert AUTH[0][1] not in caller  # a key id, never the key


async def test_the_first_image_is_delivered_while_the_others_are_still_rendering(
    harness: Harness, upstream: FakeOpenAI
) -> None:
    # The upstream finishes one call fast and holds the other three.
    upstream.config.next_latencies = [0.05, 3.0, 3.0, 3.0]
    call = harness.stub.GenerateImage(
        pb.GenerateImageRequest(prompt="four dogs", number_of_images=4), metadata=AUTH
    )
    in_flight_at_first_image = None
    kinds = []
    async for event in call:
        kinds.append(event.WhichOneof("event"))
        if kinds.count("image") == 1 and in_flight_at_first_image is None:
            in_flight_at_first_image = upstream.in_flight
    assert in_flight_at_first_image == 3
    assert kinds == ["accepted", "image", "image", "image", "image", "summary"]
