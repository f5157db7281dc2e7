"""CancelBatch stops a batch promptly, whatever its items' jobs are doing at that moment."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from visionstudio.image.v1 import image_service_pb2 as pb

from tests.fake_openai import FakeOpenAI
from tests.support.batches import generate, kinds, read_batch
from tests.support.harness import AUTH, Harness


async def test_an_item_cancelled_while_its_job_records_its_end_still_ends(
    harness: Harness, upstream: FakeOpenAI, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The job's image is made; recording the job's end is held up (a loaded database), and
    # the cancel comes just then. (Its stream used to wait for the job's deadline: the batch
    # could not settle, which is why cancelled items "took more than 5 s".)
    jobs = harness.service.core.jobs
    finishing, go_on = asyncio.Event(), asyncio.Event()
    finish_job = jobs.finish_job

    async def slow_finish(*args: Any, **kwargs: Any) -> None:
        finishing.set()
        await go_on.wait()
        await finish_job(*args, **kwargs)

    monkeypatch.setattr(jobs, "finish_job", slow_finish)
    try:
        await _cancel_while_finishing(harness, finishing)
    finally:
        go_on.set()  # else the server waits for the held write at shutdown


async def _cancel_while_finishing(harness: Harness, finishing: asyncio.Event) -> None:
    call = harness.stub.RunBatch(pb.RunBatchRequest(items=[generate("a", "a gull")]), metadata=AUTH)
    accepted = await call.read()
    assert isinstance(accepted, pb.BatchEvent)
    await asyncio.wait_for(finishing.wait(), 10)
    cancelled = asyncio.ensure_future(
        harness.stub.CancelBatch(
            pb.CancelBatchRequest(batch_id=accepted.accepted.batch_id), metadata=AUTH
        )
    )
    events = await asyncio.wait_for(read_batch(call), 4)
    batch = await cancelled
    assert kinds(events)[-1] == "summary" and events[-1].summary.items_cancelled == 1
    assert batch.status == pb.BATCH_STATUS_CANCELLED
