"""Persistence of results: image blobs and job records."""

from visionstudio.server.store.blobs import BlobStore, LocalBlobStore
from visionstudio.server.store.jobs import ImageRecord, JobRecord, JobStore, SqliteJobStore

__all__ = [
    "BlobStore",
    "ImageRecord",
    "JobRecord",
    "JobStore",
    "LocalBlobStore",
    "SqliteJobStore",
]
