"""A new job's upstream call starts while its record is being written; it is announced, and its
images stored, only once the record is there. The record's write is held up for real: another
connection holds the SQLite database's write lock, as a second process using the file would."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import grpc
from visionstudio.image.v1 import image_service_pb2 as pb

from tests.fake_openai import FakeOpenAI
from tests.support.calls import rpc_error
from tests.support.harness import AUTH, Harness, collect, eventually, images_of, png


@asynccontextmanager
async def write_lock(data_dir: Path) -> AsyncIterator[sqlite3.Connection]:
    """Holds the job database's write lock until the block ends (or the lock is released).
    Taken without waiting, and tried again: a wait would block the service's own loop."""
    db = sqlite3.connect(data_dir / "jobs.sqlite3", isolation_level=None, timeout=0)
    try:
        while True:
            try:
                db.execute("BEGIN IMMEDIATE")
                break
            except sqlite3.OperationalError:
                await asyncio.sleep(0.01)
        yield db
        if db.in_transaction:
            db.execute("ROLLBACK")
    finally:
        db.close()


def blob_files(data_dir: Path, folder: str) -> list[Path]:
    return [p for p in (data_dir / "blobs" / folder).rglob("*") if p.is_file()]


async def test_the_upstream_call_starts_while_the_record_is_written(
    harness: Harness, upstream: FakeOpenAI
) -> None:
    request = pb.GenerateImageRequest(prompt="a lighthouse", include_data=True)
    async with write_lock(harness.data_dir) as lock:
        call = harness.stub.GenerateImage(request, metadata=AUTH)
        first = asyncio.ensure_future(call.read())
        assert await eventually(lambda: upstream.served_images == 1, timeout_s=5)
        # The image is made, but the job is neither announced nor its image stored.
        await asyncio.sleep(0.2)
        assert not first.done()
        assert blob_files(harness.data_dir, "images") == []
        lock.execute("ROLLBACK")
        accepted = await first
        rest: list[pb.ImageEvent] = []
        while isinstance(event := await call.read(), pb.ImageEvent):
            rest.append(event)
    assert isinstance(accepted, pb.ImageEvent) and accepted.WhichOneof("event") == "accepted"
    assert len(images_of(rest)) == 1 and rest[-1].WhichOneof("event") == "summary"
    job = await harness.stub.GetJob(
        pb.GetJobRequest(job_id=accepted.accepted.job_id), metadata=AUTH
    )
    assert job.status == pb.JOB_STATUS_SUCCEEDED and len(job.images) == 1


async def test_a_job_whose_record_cannot_be_written_ends_for_its_caller_and_leaves_nothing(
    harness: Harness, upstream: FakeOpenAI
) -> None:
    """The lock outlasts the store's busy timeout (5 s): the record is never written."""
    image = pb.EditImageRequest(prompt="a boat", image_file=png((64, 64)))
    async with write_lock(harness.data_dir):
        err = await rpc_error(collect(harness.stub.EditImage(image, metadata=AUTH)))
    assert err.code() is grpc.StatusCode.INTERNAL
    assert len(upstream.requests) == 1  # the call went out while the record was being written
    assert blob_files(harness.data_dir, "images") == []
    assert blob_files(harness.data_dir, "inputs") == []
    listed = await harness.stub.ListJobs(pb.ListJobsRequest(), metadata=AUTH)
    assert list(listed.jobs) == []
    # The service goes on: the next call is recorded and answered.
    events = await collect(harness.stub.EditImage(image, metadata=AUTH))
    assert len(images_of(events)) == 1
