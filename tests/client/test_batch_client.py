"""Both clients run batches against the real service: the item builders, the events tagged
with their items, and the batch calls (get, list with paging, cancel)."""

from __future__ import annotations

import asyncio

from visionstudio.client import (
    AsyncImageClient,
    ImageClient,
    edit_item,
    generate_item,
    inpaint_item,
)
from visionstudio.image.v1 import image_service_pb2 as pb

from tests.fake_openai import FakeOpenAI
from tests.support.harness import API_KEY, Harness, png


def _target(harness: Harness) -> str:
    return f"127.0.0.1:{harness.service.grpc_port}"


def _items() -> list[pb.BatchRequestItem]:
    photo = png((64, 48))
    return [
        generate_item("castle", "a castle", number_of_images=2, aspect_ratio="3:2", quality="low"),
        edit_item("night", "make it night", photo, output_format="webp"),
        inpaint_item("frame", "a meadow", photo, inpaint_border_only=True, border_percentage=0.2),
    ]


async def test_async_client_streams_a_batch_and_reads_it_back(
    harness: Harness, upstream: FakeOpenAI
) -> None:
    async with AsyncImageClient(_target(harness), API_KEY) as client:
        events = [e async for e in client.run_batch(_items(), idempotency_key="order-17")]
        batch_id = events[0].accepted.batch_id
        batch = await client.get_batch(batch_id)
        other = [e async for e in client.run_batch(_items()[:1])]
        first = await client.list_batches(page_size=1)
        second = await client.list_batches(page_size=1, page_token=first.next_page_token)
        cancelled = await client.cancel_batch(batch_id)

    kinds = [e.WhichOneof("event") for e in events]
    assert (kinds[0], kinds[-1], kinds.count("item_ended")) == ("accepted", "summary", 3)
    images = sorted((e.image.item_id, e.image.image.index) for e in events if e.HasField("image"))
    assert images == [("castle", 0), ("castle", 1), ("frame", 0), ("night", 0)]
    night = next(e.image.image for e in events if e.image.item_id == "night")
    assert night.mime_type == "image/webp"
    assert events[-1].summary.items_succeeded == 3
    assert batch.status == pb.BATCH_STATUS_SUCCEEDED
    assert [i.item_id for i in batch.items] == ["castle", "night", "frame"]
    assert batch.idempotency_key == "order-17"
    # Newest first, one per page.
    assert [b.batch_id for b in (*first.batches, *second.batches)] == [
        other[0].accepted.batch_id,
        batch_id,
    ]
    # An ended batch comes back unchanged.
    assert cancelled.status == pb.BATCH_STATUS_SUCCEEDED


async def test_blocking_client_runs_and_watches_a_batch(
    harness: Harness, upstream: FakeOpenAI
) -> None:
    def run() -> tuple[list[pb.BatchEvent], list[pb.BatchEvent]]:
        with ImageClient(_target(harness), API_KEY) as client:
            events = list(client.run_batch(_items()[:1]))
            return events, list(client.watch_batch(events[0].accepted.batch_id))

    events, watched = await asyncio.to_thread(run)
    assert [e.WhichOneof("event") for e in events] == [
        "accepted",
        "item_started",
        "image",
        "image",
        "item_ended",
        "summary",
    ]
    assert sorted(e.WhichOneof("event") or "" for e in watched) == sorted(
        e.WhichOneof("event") or "" for e in events
    )
