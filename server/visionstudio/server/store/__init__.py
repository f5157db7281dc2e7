"""Persistence of results: image blobs and job records.

Defaults need no set-up (SQLite and a directory under the data dir); PostgreSQL and an
S3-compatible bucket let several replicas share them. `open_stores` picks by configuration.
"""

from visionstudio.server.store.blobs import BlobStore, LocalBlobStore
from visionstudio.server.store.factory import open_stores
from visionstudio.server.store.jobs import (
    ImageRecord,
    JobPage,
    JobRecord,
    JobStore,
    SqliteJobStore,
    UsageTotals,
)
from visionstudio.server.store.postgres import PostgresJobStore
from visionstudio.server.store.s3 import S3BlobStore

__all__ = [
    "BlobStore",
    "ImageRecord",
    "JobPage",
    "JobRecord",
    "JobStore",
    "LocalBlobStore",
    "PostgresJobStore",
    "S3BlobStore",
    "SqliteJobStore",
    "UsageTotals",
    "open_stores",
]
