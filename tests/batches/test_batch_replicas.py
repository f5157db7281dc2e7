"""Two server processes on one PostgreSQL and one bucket: a batch is watched through the replica
that does not drive it, and finished by it when its driver dies."""

from __future__ import annotations

import asyncio
import signal
from collections import Counter
from collections.abc import AsyncIterator
from pathlib import Path

import grpc
import pytest
from visionstudio.image.v1 import image_service_pb2 as pb

from tests.fake_openai import FakeOpenAI
from tests.support.batches import collect_batch, generate, kinds, of_kind, read_batch
from tests.support.calls import rpc_error
from tests.support.harness import eventually, rich_error
from tests.support.processes import KEY, ServerProcess
from tests.support.replicas import replica_stubs, two_replicas
from tests.support.store_services import PostgresServer, S3Server, postgres_server, s3_server  # noqa: F401

AUTH = (("x-api-key", KEY),)


@pytest.fixture
async def replicas(
    upstream: FakeOpenAI,
    postgres_server: PostgresServer,  # noqa: F811
    s3_server: S3Server,  # noqa: F811
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> AsyncIterator[tuple[ServerProcess, ServerProcess]]:
    async with two_replicas(
        upstream,
        postgres_server,
        s3_server,
        monkeypatch,
        tmp_path,
        VISIONSTUDIO_BATCH_ITEM_CONCURRENCY="2",
    ) as pair:
        yield pair


async def test_killing_the_driving_replica_the_other_finishes_the_batch_its_watcher_follows(
    replicas: tuple[ServerProcess, ServerProcess], upstream: FakeOpenAI
) -> None:
    a, b = replicas
    # Of items 0 and 1, the first to reach the upstream is answered at once, the other would
    # take a minute, as would item 2; 3..5 wait their turn.
    upstream.config.next_latencies = [0.05, 60.0, 60.0]
    prompts = {f"i{n}": f"a relay {n}" for n in range(6)}
    items = [generate(item_id, prompt) for item_id, prompt in prompts.items()]
    async with replica_stubs(a, b) as (on_a, on_b):
        run = on_a.RunBatch(pb.RunBatchRequest(items=items), metadata=AUTH)
        seen: list[pb.BatchEvent] = []
        async for event in run:
            seen.append(event)
            if "item_ended" in kinds(seen) and kinds(seen).count("item_started") == 3:
                break
        # Replica b does not drive the batch: its watch follows it from the store.
        watch = on_b.WatchBatch(
            pb.WatchBatchRequest(batch_id=seen[0].accepted.batch_id), metadata=AUTH
        )
        first = await watch.read()
        assert isinstance(first, pb.BatchEvent) and first.HasField("accepted")
        upstream.config.next_latencies = []
        a.kill()  # SIGKILL the driver
        watched = [first, *await read_batch(watch)]
        batch = await on_b.GetBatch(
            pb.GetBatchRequest(batch_id=first.accepted.batch_id), metadata=AUTH
        )
    assert kinds(watched)[-1] == "summary"
    assert watched[-1].summary.items_succeeded == 6
    assert sorted(i.item_id for i in of_kind(watched, "item_ended")) == [f"i{n}" for n in range(6)]
    assert len({i.image.image_id for i in of_kind(watched, "image")}) == 6
    assert batch.status == pb.BATCH_STATUS_SUCCEEDED
    # The item done before the kill and those that had waited were asked for once; the two in
    # flight at most twice.
    asked = Counter(str(r.fields["prompt"]) for r in upstream.requests)
    assert max(asked.values()) <= 2
    (done,) = [e.item_id for e in of_kind(seen, "item_ended")]
    assert {asked[prompts[item_id]] for item_id in (done, "i3", "i4", "i5")} == {1}, asked


async def test_sigterm_hands_the_batch_to_the_other_replica_at_once(
    replicas: tuple[ServerProcess, ServerProcess], upstream: FakeOpenAI
) -> None:
    a, b = replicas
    # Both first items would take a minute: the 1 s grace cannot wait for them.
    upstream.config.next_latencies = [60.0, 60.0]
    items = [generate(f"i{n}", f"a deploy {n}") for n in range(4)]
    async with replica_stubs(a, b) as (on_a, on_b):
        run = on_a.RunBatch(pb.RunBatchRequest(items=items), metadata=AUTH)
        seen: list[pb.BatchEvent] = []
        while kinds(seen).count("item_started") < 2:
            event = await run.read()
            assert isinstance(event, pb.BatchEvent)
            seen.append(event)
        batch_id = seen[0].accepted.batch_id
        assert await eventually(lambda: len(upstream.requests) == 2)  # both calls upstream
        upstream.config.next_latencies = []
        a.proc.send_signal(signal.SIGTERM)
        cut = await rpc_error(read_batch(run))
        watched = await collect_batch(
            on_b.WatchBatch(pb.WatchBatchRequest(batch_id=batch_id), metadata=AUTH)
        )
    assert cut.code() == grpc.StatusCode.UNAVAILABLE
    assert rich_error(cut)["reason"] == "SERVER_SHUTTING_DOWN"
    assert rich_error(cut)["metadata"] == {"batch_id": batch_id}
    assert await asyncio.to_thread(a.proc.wait, 30) == 0
    assert watched[-1].summary.items_succeeded == 4
    assert len({i.image.image_id for i in of_kind(watched, "image")}) == 4
    # The two calls the grace cut were made again on b, with the two items that had waited.
    assert len(upstream.requests) == 6
