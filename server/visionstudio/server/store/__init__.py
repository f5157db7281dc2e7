"""Persistence of results: image blobs and job records.

Defaults need no set-up (SQLite and a directory under the data dir); PostgreSQL and an
S3-compatible bucket let several replicas share them. `open_stores` picks by URL.
"""

from visionstudio.server.store.blobs import LocalBlobStore
from visionstudio.server.store.factory import open_stores
from visionstudio.server.store.postgres import PostgresJobStore
from visionstudio.server.store.protocols import BatchStore, BlobStore, JobStore
from visionstudio.server.store.records import (
    ImageRecord,
    JobPage,
    JobRecord,
    JobStatus,
    UsageTotals,
)
from visionstudio.server.store.s3 import S3BlobStore
from visionstudio.server.store.sqlite import SqliteJobStore

__all__ = [
    "BatchStore",
    "BlobStore",
    "ImageRecord",
    "JobPage",
    "JobRecord",
    "JobStatus",
    "JobStore",
    "LocalBlobStore",
    "PostgresJobStore",
    "S3BlobStore",
    "SqliteJobStore",
    "UsageTotals",
    "open_stores",
]
