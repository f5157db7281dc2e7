"""The whole service keeping its jobs in PostgreSQL and its images in S3, chosen by the
environment alone (VISIONSTUDIO_DATABASE_URL, VISIONSTUDIO_BLOB_URL and the AWS variables)."""

from __future__ import annotations

import os
from dataclasses import dataclass

import aiohttp
import pytest
from aiobotocore.session import get_session
from visionstudio.image.v1 import image_service_pb2 as pb
from visionstudio.server.store import PostgresJobStore

from tests.support.harness import AUTH, Harness, collect, images_of
from tests.support.store_services import PostgresServer, S3Server, postgres_server, s3_server  # noqa: F401


@dataclass(frozen=True)
class SharedStores:
    database_url: str
    bucket: str


@pytest.fixture(autouse=True)
async def shared_stores(
    postgres_server: PostgresServer,  # noqa: F811
    s3_server: S3Server,  # noqa: F811
    monkeypatch: pytest.MonkeyPatch,
) -> SharedStores:
    # Autouse, so the variables are set before conftest's harness reads its settings.
    stores = SharedStores(
        database_url=await postgres_server.create_database(),
        bucket=await s3_server.create_bucket(monkeypatch),
    )
    monkeypatch.setenv("VISIONSTUDIO_DATABASE_URL", stores.database_url)
    monkeypatch.setenv("VISIONSTUDIO_BLOB_URL", f"s3://{stores.bucket}/vs")
    return stores


async def test_generated_images_are_kept_in_postgresql_and_s3(
    harness: Harness, shared_stores: SharedStores
) -> None:
    events = await collect(
        harness.stub.GenerateImage(
            pb.GenerateImageRequest(prompt="two owls", number_of_images=2), metadata=AUTH
        )
    )
    job_id = events[0].accepted.job_id
    images = images_of(events)
    assert len(images) == 2

    # Each image's URL loads through the service, which reads the bytes back from the bucket.
    async with aiohttp.ClientSession() as http:
        for image in images:
            async with http.get(image.url) as response:
                assert response.status == 200
                assert response.content_type == image.mime_type
                assert len(await response.read()) > 0

    jobs = await PostgresJobStore.open(shared_stores.database_url)
    try:
        job = await jobs.get_job(job_id)
        assert job is not None and job.status == "succeeded"
        records = await jobs.list_images(job_id)
        assert sorted(r.id for r in records) == sorted(i.image_id for i in images)
    finally:
        await jobs.close()

    async with get_session().create_client("s3", region_name=os.environ["AWS_REGION"]) as s3:
        for record in records:
            head = await s3.head_object(Bucket=shared_stores.bucket, Key=f"vs/{record.blob_key}")
            assert head["ContentType"] == record.mime_type
            assert head["ContentLength"] == record.size_bytes
