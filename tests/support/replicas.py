"""Two server processes sharing one PostgreSQL database and one bucket: one service."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import grpc
import pytest
from visionstudio.image.v1 import image_service_pb2_grpc as pb_grpc

from tests.fake_openai import FakeOpenAI
from tests.support.processes import ServerProcess
from tests.support.store_services import PostgresServer, S3Server


@asynccontextmanager
async def two_replicas(
    upstream: FakeOpenAI,
    postgres: PostgresServer,
    s3: S3Server,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    **settings: str,
) -> AsyncIterator[tuple[ServerProcess, ServerProcess]]:
    """Both ready; `settings` (environment variables) added to what replicas must share."""
    bucket = await s3.create_bucket(monkeypatch)  # also sets the AWS variables
    shared = {
        "VISIONSTUDIO_DATABASE_URL": await postgres.create_database(),
        "VISIONSTUDIO_BLOB_URL": f"s3://{bucket}/images",
        "VISIONSTUDIO_URL_SIGNING_KEY": "replicas-share-this-secret",
        # Short, so work whose replica died is carried on within a few seconds.
        "VISIONSTUDIO_JOB_LEASE_S": "2",
        "VISIONSTUDIO_SHUTDOWN_GRACE_S": "1",
        **settings,
    }
    a = ServerProcess(upstream.base_url, tmp_path / "a", **shared)
    b = ServerProcess(upstream.base_url, tmp_path / "b", **shared)
    try:
        await asyncio.gather(a.ready(), b.ready())
        yield a, b
    finally:
        a.kill()
        b.kill()


@asynccontextmanager
async def replica_stubs(
    a: ServerProcess, b: ServerProcess
) -> AsyncIterator[tuple[pb_grpc.ImageServiceAsyncStub, pb_grpc.ImageServiceAsyncStub]]:
    """A client of each replica, over its own channel."""
    async with (
        grpc.aio.insecure_channel(a.target) as to_a,
        grpc.aio.insecure_channel(b.target) as to_b,
    ):
        yield pb_grpc.ImageServiceStub(to_a), pb_grpc.ImageServiceStub(to_b)
