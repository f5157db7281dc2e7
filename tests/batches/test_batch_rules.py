"""What a batch is stored with, its idempotency key's rule, and its retention."""

from __future__ import annotations

import asyncio
from pathlib import Path

import grpc
from visionstudio.image.v1 import image_service_pb2 as pb
from visionstudio.server.jobs.batch_specs import (
    BatchItem,
    drop_inputs,
    item_request,
    keep_inputs,
    load_spec,
)
from visionstudio.server.spec import ImageSource, JobSpec, Operation
from visionstudio.server.store import LocalBlobStore
from visionstudio.server.store.retention import Retention

from tests.fake_openai import FakeOpenAI
from tests.support.batches import collect_batch, generate
from tests.support.calls import rpc_error
from tests.support.harness import AUTH, Harness, rich_error


async def test_an_items_request_comes_back_from_the_store_as_it_was_asked(
    tmp_path: Path,
) -> None:
    blobs = LocalBlobStore(tmp_path)
    data_url = "data:image/png;base64," + "A" * 400
    items = [
        BatchItem(
            "upload", JobSpec(Operation.EDIT, "x", image=ImageSource("image_file", data=b"png"))
        ),
        BatchItem(
            "data-url", JobSpec(Operation.EDIT, "y", image=ImageSource("image_url", url=data_url))
        ),
        BatchItem(
            "by-url",
            JobSpec(
                Operation.INPAINT,
                "z",
                image=ImageSource("image_url", url="https://example.com/a.png"),
                mask=ImageSource("mask_file", data=b"mask"),
            ),
        ),
    ]
    await keep_inputs("b1", items, blobs)
    for position, item in enumerate(items):
        request = item_request(item)
        assert "AAAA" not in str(request.params)  # the data: URL is kept as a blob
        assert await load_spec(request, "b1", position, blobs) == item.spec
    await drop_inputs("b1", len(items), blobs)
    assert await load_spec(item_request(items[0]), "b1", 0, blobs) is None


async def test_a_reused_key_with_other_items_is_refused_and_the_same_items_reattach(
    harness: Harness, upstream: FakeOpenAI
) -> None:
    async def run(*items: pb.BatchRequestItem) -> list[pb.BatchEvent]:
        request = pb.RunBatchRequest(items=items, idempotency_key="nightly")
        return await collect_batch(harness.stub.RunBatch(request, metadata=AUTH))

    first = await run(generate("a", "a heron"), generate("b", "a crane"))
    again = await run(generate("a", "a heron"), generate("b", "a crane"))
    assert again[0].accepted.batch_id == first[0].accepted.batch_id
    assert len(upstream.requests) == 2  # re-attached: nothing made twice
    for other in (
        [generate("a", "a heron"), generate("b", "a stork")],  # another prompt
        [generate("b", "a crane"), generate("a", "a heron")],  # another order
    ):
        err = await rpc_error(run(*other))
        assert err.code() == grpc.StatusCode.INVALID_ARGUMENT
        found = rich_error(err)
        assert found["reason"] == "IDEMPOTENCY_KEY_REUSED" and found["fields"] == [
            "idempotency_key"
        ]
        assert first[0].accepted.batch_id in (err.details() or "")


async def test_retention_deletes_an_ended_batch_with_its_jobs(
    harness: Harness, upstream: FakeOpenAI
) -> None:
    events = await collect_batch(
        harness.stub.RunBatch(pb.RunBatchRequest(items=[generate("a", "a wren")]), metadata=AUTH)
    )
    batch_id = events[0].accepted.batch_id
    core = harness.service.core
    retention = Retention(core.jobs, core.blobs, keep_s=0.05, interval_s=1)
    await asyncio.sleep(0.1)  # older than the retention period
    assert await retention.purge_once() == 1  # the item's image
    err = await rpc_error(
        harness.stub.GetBatch(pb.GetBatchRequest(batch_id=batch_id), metadata=AUTH)
    )
    assert err.code() == grpc.StatusCode.NOT_FOUND
    listed = await harness.stub.ListBatches(pb.ListBatchesRequest(), metadata=AUTH)
    assert list(listed.batches) == []
