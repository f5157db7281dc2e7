"""Stores chosen by two URLs, both defaulting to the data directory."""

from __future__ import annotations

from pathlib import Path

import pytest
from visionstudio.server.store import (
    LocalBlobStore,
    PostgresJobStore,
    S3BlobStore,
    SqliteJobStore,
    open_stores,
)

from tests.support.store_services import PostgresServer, postgres_server, s3_bucket, s3_server  # noqa: F401


async def test_the_defaults_live_in_the_data_dir(tmp_path: Path) -> None:
    jobs, blobs = await open_stores(database_url=None, blob_url=None, data_dir=tmp_path)
    try:
        assert isinstance(jobs, SqliteJobStore) and isinstance(blobs, LocalBlobStore)
        await blobs.put("images/a.png", b"x", "image/png")
    finally:
        await jobs.close()
        await blobs.close()
    assert (tmp_path / "jobs.sqlite3").is_file()
    assert (tmp_path / "blobs" / "images" / "a.png").read_bytes() == b"x"


async def test_file_urls_name_absolute_paths(tmp_path: Path) -> None:
    jobs, blobs = await open_stores(
        database_url=f"sqlite://{tmp_path}/elsewhere/jobs.db",
        blob_url=f"file://{tmp_path}/images-here",
        data_dir=tmp_path / "data",
    )
    try:
        await blobs.put("images/a.png", b"x", "image/png")
    finally:
        await jobs.close()
        await blobs.close()
    assert (tmp_path / "elsewhere" / "jobs.db").is_file()
    assert (tmp_path / "images-here" / "images" / "a.png").is_file()
    assert not (tmp_path / "data").exists()


@pytest.mark.parametrize(
    ("database_url", "blob_url", "message"),
    [
        (
            "mysql://root:hunter2@db/jobs",
            None,
            "VISIONSTUDIO_DATABASE_URL: unsupported scheme 'mysql'",
        ),
        (
            "sqlite://relative/jobs.db",
            None,
            "VISIONSTUDIO_DATABASE_URL .*expected sqlite:///an/absolute/path",
        ),
        (None, "gs://bucket/images", "VISIONSTUDIO_BLOB_URL: unsupported scheme 'gs'"),
        (None, "/no/scheme", "VISIONSTUDIO_BLOB_URL: unsupported scheme ''"),
        (None, "s3:///prefix-without-bucket", "VISIONSTUDIO_BLOB_URL .*s3://bucket/prefix"),
    ],
)
async def test_a_bad_url_fails_at_start_and_opens_nothing(
    tmp_path: Path, database_url: str | None, blob_url: str | None, message: str
) -> None:
    with pytest.raises(ValueError, match=message) as caught:
        await open_stores(database_url=database_url, blob_url=blob_url, data_dir=tmp_path)
    assert "hunter2" not in str(caught.value)
    assert not (tmp_path / "jobs.sqlite3").exists()


async def test_postgresql_and_s3_urls_select_the_shared_stores(
    tmp_path: Path,
    postgres_server: PostgresServer,  # noqa: F811
    s3_bucket: str,  # noqa: F811
) -> None:
    jobs, blobs = await open_stores(
        database_url=await postgres_server.create_database(),
        blob_url=f"s3://{s3_bucket}/prefix",
        data_dir=tmp_path,
    )
    try:
        assert isinstance(jobs, PostgresJobStore) and isinstance(blobs, S3BlobStore)
    finally:
        await jobs.close()
        await blobs.close()
