"""What a long call looks like on the wire: progress heartbeats and partial previews."""

from __future__ import annotations

import grpc
import pytest
from visionstudio.image.v1 import image_service_pb2 as pb

from tests.fake_openai import FakeOpenAI
from tests.support.harness import AUTH, Harness, collect, decode, png


@pytest.mark.parametrize("harness", [{"progress_interval_s": 0.2}], indirect=True)
async def test_a_quiet_stream_sends_progress(harness: Harness, upstream: FakeOpenAI) -> None:
    upstream.config.next_latencies = [0.1, 1.0]
    events = await collect(
        harness.stub.GenerateImage(
            pb.GenerateImageRequest(prompt="slow", number_of_images=2), metadata=AUTH
        )
    )
    kinds = [e.WhichOneof("event") for e in events]
    assert kinds[0] == "accepted" and kinds[-1] == "summary"
    progress = [e.progress for e in events if e.WhichOneof("event") == "progress"]
    assert len(progress) >= 3
    assert all(p.images_total == 2 for p in progress)
    assert progress[-1].images_done == 1  # the fast image was done, the slow one not yet
    assert progress == sorted(progress, key=lambda p: p.elapsed_ms)


async def test_partial_previews_come_before_each_image(
    harness: Harness, upstream: FakeOpenAI
) -> None:
    events = await collect(
        harness.stub.GenerateImage(
            pb.GenerateImageRequest(prompt="a fox", number_of_images=2, partial_images=2),
            metadata=AUTH,
        )
    )
    for index in (0, 1):
        mine = [
            e.WhichOneof("event")
            for e in events
            if (e.WhichOneof("event") == "preview" and e.preview.index == index)
            or (e.WhichOneof("event") == "image" and e.image.index == index)
        ]
        assert mine == ["preview", "preview", "image"]
    previews = [e.preview for e in events if e.WhichOneof("event") == "preview"]
    assert sorted(p.partial_image_index for p in previews) == [0, 0, 1, 1]
    assert all(p.mime_type == "image/png" and decode(p.data).format == "PNG" for p in previews)
    # The streaming mode was used upstream, one image per call.
    assert all(r.fields.get("stream") in (True, "true") for r in upstream.requests)
    assert events[-1].summary.usage.output_tokens > 0


async def test_edit_previews_and_the_limit(harness: Harness, upstream: FakeOpenAI) -> None:
    events = await collect(
        harness.stub.EditImage(
            pb.EditImageRequest(prompt="x", image_file=png((300, 200)), partial_images=1),
            metadata=AUTH,
        )
    )
    assert [e.WhichOneof("event") for e in events] == ["accepted", "preview", "image", "summary"]
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await collect(
            harness.stub.GenerateImage(
                pb.GenerateImageRequest(prompt="x", partial_images=4), metadata=AUTH
            )
        )
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "partial_images" in (caught.value.details() or "")
