"""A batch survives its server: SIGKILL mid-batch, restart on the same data directory, and the
batch completes with every image made once."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import grpc
from visionstudio.image.v1 import image_service_pb2 as pb
from visionstudio.image.v1 import image_service_pb2_grpc as pb_grpc

from tests.fake_openai import FakeOpenAI
from tests.support.batches import collect_batch, generate, kinds, of_kind
from tests.support.harness import png
from tests.support.processes import KEY, ServerProcess

AUTH = (("x-api-key", KEY),)
# Short, so the restarted server takes the batch and its jobs over within a few seconds.
LEASE = {"VISIONSTUDIO_JOB_LEASE_S": "2", "VISIONSTUDIO_BATCH_ITEM_CONCURRENCY": "4"}


def items() -> list[pb.BatchRequestItem]:
    made = [generate(f"g{n}", f"a lighthouse {n}") for n in range(7)]
    # The last item waits for its turn: its uploaded image must be stored with the batch.
    edit = pb.EditImageRequest(prompt="add a moon", image_file=png((64, 64)))
    return [*made, pb.BatchRequestItem(item_id="edit", edit=edit)]


async def run_until_killed(server: ServerProcess, upstream: FakeOpenAI) -> tuple[str, list[str]]:
    """Starts the batch, and SIGKILLs the server once two items are done, four running and two
    waiting; returns the batch id and the done items' ids."""
    # The first two calls answer at once; the next ones would take a minute.
    upstream.config.next_latencies = [0.05, 0.05] + [60.0] * 4
    async with grpc.aio.insecure_channel(server.target) as channel:
        stub = pb_grpc.ImageServiceStub(channel)
        call = stub.RunBatch(pb.RunBatchRequest(items=items()), metadata=AUTH)
        seen: list[pb.BatchEvent] = []
        async for event in call:
            seen.append(event)
            if kinds(seen).count("item_ended") == 2 and kinds(seen).count("item_started") == 6:
                break
        server.proc.kill()  # SIGKILL: no chance to hand anything back
        server.kill()
    done = of_kind(seen, "item_ended")
    assert [e.status for e in done] == [pb.BATCH_ITEM_STATUS_SUCCEEDED] * 2
    return str(seen[0].accepted.batch_id), [e.item_id for e in done]


async def test_a_batch_cut_by_sigkill_is_completed_by_the_restarted_server(
    upstream: FakeOpenAI, tmp_path: Path
) -> None:
    first = ServerProcess(upstream.base_url, tmp_path, **LEASE)
    try:
        await first.ready()
        batch_id, done = await run_until_killed(first, upstream)
    finally:
        first.kill()
    upstream.config.next_latencies = []
    again = ServerProcess(upstream.base_url, tmp_path, **LEASE)
    try:
        await again.ready()
        async with grpc.aio.insecure_channel(again.target) as channel:
            stub = pb_grpc.ImageServiceStub(channel)
            watch = stub.WatchBatch(pb.WatchBatchRequest(batch_id=batch_id), metadata=AUTH)
            watched = await collect_batch(watch)
            batch = await stub.GetBatch(pb.GetBatchRequest(batch_id=batch_id), metadata=AUTH)
            jobs = [
                await stub.GetJob(pb.GetJobRequest(job_id=item.job_id), metadata=AUTH)
                for item in batch.items
            ]
    finally:
        again.kill()
    # The whole batch, from its acceptance to its summary, though half of it ran before.
    assert kinds(watched)[0] == "accepted" and kinds(watched)[-1] == "summary"
    assert sorted(i.item_id for i in of_kind(watched, "item_ended")) == sorted(
        i.item_id for i in items()
    )
    summary = watched[-1].summary
    assert (summary.items_succeeded, summary.images_delivered) == (8, 8)
    assert batch.status == pb.BATCH_STATUS_SUCCEEDED
    # Every item's image exists once; the items done before the kill and those still waiting
    # were asked for once, the items in flight at most twice.
    assert [len(job.images) for job in jobs] == [1] * 8
    assert len({i.image.image_id for i in of_kind(watched, "image")}) == 8
    asked = Counter(str(r.fields["prompt"]) for r in upstream.requests)
    assert sum(asked.values()) == len(upstream.requests) and max(asked.values()) <= 2
    prompts = {i.item_id: (i.generate.prompt or i.edit.prompt) for i in items()}
    assert {asked[prompts[item_id]] for item_id in [*done, "g6", "edit"]} == {1}
