"""Both clients continue a batch stream cut by a server shutdown with WatchBatch: the replay
adds only what the caller does not have, whether the error names the batch or not."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path

import grpc
import pytest
from google.protobuf.message import Message
from grpc_status import rpc_status
from visionstudio.client import AsyncImageClient, ImageClient, generate_item
from visionstudio.client.cli import main
from visionstudio.image.v1 import image_service_pb2 as pb
from visionstudio.image.v1 import image_service_pb2_grpc as pb_grpc

from tests.client.servicer import serving
from tests.client.shutdown_servicer import shutting_down
from tests.support.harness import png

BATCH_ID = "batch-51c2"
Context = grpc.aio.ServicerContext[Message, pb.BatchEvent]


def _image(item_id: str, index: int) -> pb.BatchEvent:
    url = f"http://images.test/{item_id}/{index}"
    image = pb.Image(index=index, url=url, data=png((4, 4)), mime_type="image/png")
    return pb.BatchEvent(image=pb.BatchImage(item_id=item_id, job_id=f"job-{item_id}", image=image))


def _ended(item_id: str) -> pb.BatchEvent:
    ended = pb.BatchItemEnded(
        item_id=item_id, job_id=f"job-{item_id}", status=pb.BATCH_ITEM_STATUS_SUCCEEDED
    )
    return pb.BatchEvent(item_ended=ended)


# The whole batch, as WatchBatch replays it: item a done, item b with two images.
BATCH = [
    pb.BatchEvent(accepted=pb.BatchAccepted(batch_id=BATCH_ID, item_count=2)),
    pb.BatchEvent(item_started=pb.BatchItemStarted(item_id="a", job_id="job-a")),
    _image("a", 0),
    _ended("a"),
    pb.BatchEvent(item_started=pb.BatchItemStarted(item_id="b", job_id="job-b")),
    _image("b", 1),
    _image("b", 0),
    _ended("b"),
    pb.BatchEvent(summary=pb.BatchSummary(batch_id=BATCH_ID, items_succeeded=2)),
]


@dataclass
class BatchShuttingDown(pb_grpc.ImageServiceServicer):
    """RunBatch: the first six events, then SERVER_SHUTTING_DOWN (naming the batch, or not, as
    `metadata` says); UNAVAILABLE at once while `refusals` last. WatchBatch: the whole batch,
    unless `cuts_left` cuts it the same way."""

    metadata: dict[str, str]
    cuts_left: int = 0
    refusals: int = 0
    watches: list[str] = field(default_factory=list)
    runs: list[pb.RunBatchRequest] = field(default_factory=list)

    async def RunBatch(
        self, request: pb.RunBatchRequest, context: Context
    ) -> AsyncIterator[pb.BatchEvent]:
        self.runs.append(request)
        if self.refusals > 0:
            self.refusals -= 1
            await context.abort(grpc.StatusCode.UNAVAILABLE, "connection refused")
        for event in BATCH[:6]:
            yield event
        await context.abort_with_status(rpc_status.to_status(shutting_down("", self.metadata)))

    async def WatchBatch(
        self, request: pb.WatchBatchRequest, context: Context
    ) -> AsyncIterator[pb.BatchEvent]:
        self.watches.append(request.batch_id)
        if self.cuts_left > 0:
            self.cuts_left -= 1
            await context.abort_with_status(rpc_status.to_status(shutting_down("", self.metadata)))
        for event in BATCH:
            yield event


@pytest.fixture
async def servicer(request: pytest.FixtureRequest) -> AsyncIterator[tuple[str, BatchShuttingDown]]:
    servicer = BatchShuttingDown(metadata=request.param)  # type: ignore[abstract]
    async with serving(servicer) as target:
        yield target, servicer


NAMED = {"batch_id": BATCH_ID}
UNNAMED: dict[str, str] = {}


@pytest.mark.parametrize("servicer", [NAMED, UNNAMED], indirect=True, ids=["named", "unnamed"])
async def test_async_client_reattaches_without_repeats(
    servicer: tuple[str, BatchShuttingDown],
) -> None:
    target, fake = servicer
    fake.cuts_left = 1  # the first watch is cut too: re-attaching is retried
    async with AsyncImageClient(target, "key-1") as client:
        events = [e async for e in client.run_batch([generate_item("a", "a cat")])]
    assert events == BATCH
    assert fake.watches == [BATCH_ID, BATCH_ID]


@pytest.mark.parametrize("servicer", [UNNAMED], indirect=True)
async def test_blocking_client_reattaches_the_same_way(
    servicer: tuple[str, BatchShuttingDown],
) -> None:
    target, _ = servicer

    def run() -> list[pb.BatchEvent]:
        with ImageClient(target, "key-1") as client:
            return list(client.run_batch([generate_item("a", "a cat")]))

    assert await asyncio.to_thread(run) == BATCH


@pytest.mark.parametrize("servicer", [UNNAMED], indirect=True)
async def test_a_watch_cut_before_any_event_resumes_its_batch(
    servicer: tuple[str, BatchShuttingDown],
) -> None:
    target, fake = servicer
    fake.cuts_left = 1
    async with AsyncImageClient(target, "key-1", reattach_attempts=1) as client:
        events = [e async for e in client.watch_batch(BATCH_ID)]
    assert events == BATCH
    assert fake.watches == [BATCH_ID, BATCH_ID]


@pytest.mark.parametrize("servicer", [NAMED], indirect=True)
async def test_the_cli_repeats_a_batch_that_never_reached_the_server_with_the_same_key(
    servicer: tuple[str, BatchShuttingDown], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    target, fake = servicer
    fake.refusals = 1
    batch = tmp_path / "batch.jsonl"
    batch.write_text('{"item_id": "a", "prompt": "a cat"}\n')
    argv = ["--target", target, "--api-key", "k", "batch", str(batch), "-o", str(tmp_path / "out")]
    assert await asyncio.to_thread(main, argv) == 0
    assert "; trying again" in capsys.readouterr().err
    assert [r.idempotency_key for r in fake.runs] == [fake.runs[0].idempotency_key] * 2
    assert sorted(p.name for p in (tmp_path / "out").rglob("*.png")) == ["0.png", "0.png", "1.png"]
