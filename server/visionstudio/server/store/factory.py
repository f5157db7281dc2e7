"""Chooses the stores from two URLs, both defaulting to the data directory.

- ``VISIONSTUDIO_DATABASE_URL``: unset -> SQLite ``<data_dir>/jobs.sqlite3``;
  ``sqlite:///abs/path.db``; ``postgresql://user:pass@host:port/db``.
- ``VISIONSTUDIO_BLOB_URL``: unset -> the directory ``<data_dir>/blobs``; ``file:///abs/dir``;
  ``s3://bucket/prefix`` (endpoint, region and credentials from the usual AWS variables).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path
from urllib.parse import urlsplit

from visionstudio.server.store.blobs import LocalBlobStore
from visionstudio.server.store.postgres import PostgresJobStore
from visionstudio.server.store.protocols import BlobStore, JobStore
from visionstudio.server.store.s3 import S3BlobStore
from visionstudio.server.store.sqlite import SqliteJobStore

# The settings the URLs come from, named in errors.
DATABASE_URL = "VISIONSTUDIO_DATABASE_URL"
BLOB_URL = "VISIONSTUDIO_BLOB_URL"


async def open_stores(
    *, database_url: str | None, blob_url: str | None, data_dir: Path
) -> tuple[JobStore, BlobStore]:
    """Opens (and migrates) the job store, then the blob store; a None URL means the default
    in `data_dir`.

    Both URLs are checked before either store is opened, so a bad one fails at start with a
    ValueError that names the setting.
    """
    open_jobs = _job_store(database_url, data_dir)
    open_blobs = _blob_store(blob_url, data_dir)
    jobs = await open_jobs()
    try:
        blobs = await open_blobs()
    except BaseException:
        await jobs.close()
        raise
    return jobs, blobs


def _job_store(url: str | None, data_dir: Path) -> Callable[[], Awaitable[JobStore]]:
    if url is None:
        return lambda: SqliteJobStore.open(data_dir / "jobs.sqlite3")
    scheme = urlsplit(url).scheme
    if scheme == "sqlite":
        path = _absolute_path(url, DATABASE_URL)
        return lambda: SqliteJobStore.open(path)
    if scheme in ("postgresql", "postgres"):
        return lambda: PostgresJobStore.open(url)
    # Only the scheme is repeated: the URL may hold a password.
    raise ValueError(
        f"{DATABASE_URL}: unsupported scheme {scheme!r}; expected sqlite:///abs/path.db"
        " or postgresql://user:pass@host:port/db"
    )


def _blob_store(url: str | None, data_dir: Path) -> Callable[[], Awaitable[BlobStore]]:
    if url is None:
        return lambda: _local(data_dir / "blobs")
    parts = urlsplit(url)
    if parts.scheme == "file":
        path = _absolute_path(url, BLOB_URL)
        return lambda: _local(path)
    if parts.scheme == "s3":
        if not parts.netloc:
            raise ValueError(f"{BLOB_URL} {url!r}: expected s3://bucket/prefix")
        return lambda: S3BlobStore.open(parts.netloc, parts.path)
    raise ValueError(
        f"{BLOB_URL}: unsupported scheme {parts.scheme!r}; expected file:///abs/dir"
        " or s3://bucket/prefix"
    )


async def _local(root: Path) -> BlobStore:
    return LocalBlobStore(root)


def _absolute_path(url: str, setting: str) -> Path:
    """The path of ``scheme:///abs/path`` (three slashes: no host)."""
    parts = urlsplit(url)
    if parts.netloc or not parts.path.startswith("/"):
        raise ValueError(f"{setting} {url!r}: expected {parts.scheme}:///an/absolute/path")
    return Path(parts.path)
