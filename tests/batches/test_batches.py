"""RunBatch and its companions over real sockets, against the loopback fake OpenAI API."""

from __future__ import annotations

import grpc
import pytest
from visionstudio.image.v1 import image_service_pb2 as pb

from tests.fake_openai import FakeOpenAI
from tests.support.batches import collect_batch, generate
from tests.support.harness import AUTH, Harness, png

OTHER = (("x-api-key", "test-key-2"),)
Q, R = pb.Quality, pb.AspectRatio
# The reference document's batch: eight prompts, ratios and qualities, 15 images in all.
REFERENCE = [
    ("castle", 2, R.Value("ASPECT_RATIO_1_1"), Q.Value("QUALITY_HIGH")),
    ("forest", 1, R.Value("ASPECT_RATIO_2_3"), Q.Value("QUALITY_MEDIUM")),
    ("harbour", 3, R.Value("ASPECT_RATIO_3_2"), Q.Value("QUALITY_AUTO")),
    ("robot", 2, R.Value("ASPECT_RATIO_1_1"), Q.Value("QUALITY_LOW")),
    ("desert", 1, R.Value("ASPECT_RATIO_16_9"), Q.Value("QUALITY_MEDIUM")),
    ("city", 2, R.Value("ASPECT_RATIO_9_16"), Q.Value("QUALITY_HIGH")),
    ("garden", 2, R.Value("ASPECT_RATIO_4_3"), Q.Value("QUALITY_AUTO")),
    ("comet", 2, R.Value("ASPECT_RATIO_3_4"), Q.Value("QUALITY_LOW")),
]


async def test_the_reference_batch_streams_all_images_tagged_with_their_items(
    harness: Harness, upstream: FakeOpenAI
) -> None:
    items = [generate(f"item-{p}", f"a {p}", n, r, q) for p, n, r, q in REFERENCE]
    events = await collect_batch(
        harness.stub.RunBatch(pb.RunBatchRequest(items=items), metadata=AUTH)
    )
    kinds = [e.WhichOneof("event") for e in events]
    assert kinds[0] == "accepted" and kinds[-1] == "summary"
    assert events[0].accepted.item_count == 8
    images = [e.image for e in events if e.WhichOneof("event") == "image"]
    assert len(images) == 15
    per_item = {f"item-{p}": n for p, n, _, _ in REFERENCE}
    for item_id, n in per_item.items():
        indices = sorted(i.image.index for i in images if i.item_id == item_id)
        assert indices == list(range(n))
    summary = events[-1].summary
    assert (summary.items_succeeded, summary.images_delivered) == (8, 15)
    assert summary.usage.output_tokens > 0
    # Each item is an ordinary job.
    job = await harness.stub.GetJob(pb.GetJobRequest(job_id=images[0].job_id), metadata=AUTH)
    assert job.status == pb.JOB_STATUS_SUCCEEDED


async def test_a_failing_item_fails_alone(harness: Harness, upstream: FakeOpenAI) -> None:
    image = png((64, 64))
    bad = pb.InpaintRequest(prompt="fix", image_file=image, mask_file=b"not an image")
    items = [generate("good", "a cat"), pb.BatchRequestItem(item_id="bad", inpaint=bad)]
    events = await collect_batch(
        harness.stub.RunBatch(pb.RunBatchRequest(items=items), metadata=AUTH)
    )
    ended = {e.item_ended.item_id: e.item_ended for e in events if e.HasField("item_ended")}
    assert ended["good"].status == pb.BATCH_ITEM_STATUS_SUCCEEDED
    assert ended["bad"].status == pb.BATCH_ITEM_STATUS_FAILED
    assert ended["bad"].error_reason == "INVALID_ARGUMENT"
    summary = events[-1].summary
    assert (summary.items_succeeded, summary.items_failed) == (1, 1)
    batch = await harness.stub.GetBatch(
        pb.GetBatchRequest(batch_id=summary.batch_id), metadata=AUTH
    )
    assert batch.status == pb.BATCH_STATUS_PARTIAL


async def test_watch_replays_an_ended_batch_and_another_key_cannot_see_it(
    harness: Harness, upstream: FakeOpenAI
) -> None:
    items = [generate("a", "a fox", 2), generate("b", "a owl")]
    run = await collect_batch(harness.stub.RunBatch(pb.RunBatchRequest(items=items), metadata=AUTH))
    batch_id = run[0].accepted.batch_id
    watched = await collect_batch(
        harness.stub.WatchBatch(pb.WatchBatchRequest(batch_id=batch_id), metadata=AUTH)
    )
    assert sum(e.HasField("image") for e in watched) == 3
    assert watched[-1].summary.items_succeeded == 2
    listed = await harness.stub.ListBatches(pb.ListBatchesRequest(), metadata=AUTH)
    assert [b.batch_id for b in listed.batches] == [batch_id]
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await harness.stub.GetBatch(pb.GetBatchRequest(batch_id=batch_id), metadata=OTHER)
    assert err.value.code() == grpc.StatusCode.NOT_FOUND
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await collect_batch(
            harness.stub.WatchBatch(pb.WatchBatchRequest(batch_id=batch_id), metadata=OTHER)
        )
    assert err.value.code() == grpc.StatusCode.NOT_FOUND


async def test_cancel_ends_every_unfinished_item(harness: Harness, upstream: FakeOpenAI) -> None:
    items = [generate(f"i{n}", f"a slow {n}", 1, 0, Q.Value("QUALITY_HIGH")) for n in range(10)]
    stream = harness.stub.RunBatch(pb.RunBatchRequest(items=items), metadata=AUTH)
    first = await stream.read()
    assert isinstance(first, pb.BatchEvent)
    batch_id = first.accepted.batch_id
    batch = await harness.stub.CancelBatch(pb.CancelBatchRequest(batch_id=batch_id), metadata=AUTH)
    assert batch.status == pb.BATCH_STATUS_CANCELLED
    rest = []
    while isinstance(event := await stream.read(), pb.BatchEvent):
        rest.append(event)
    assert rest[-1].summary.items_cancelled >= 1
    assert all(i.status != pb.BATCH_ITEM_STATUS_PENDING for i in batch.items)
