"""What a batch stream is made of, whichever surface carries it."""

from __future__ import annotations

from dataclasses import dataclass

from visionstudio.server.jobs.events import ImageReady
from visionstudio.server.spec import Usage
from visionstudio.server.store.batch_records import ItemStatus


@dataclass(frozen=True)
class BatchAccepted:
    batch_id: str
    item_count: int


@dataclass(frozen=True)
class ItemStarted:
    """The item's job exists: GetJob, WatchJob and CancelJob work on `job_id`."""

    item_id: str
    job_id: str


@dataclass(frozen=True)
class ItemImage:
    item_id: str
    job_id: str
    image: ImageReady


@dataclass(frozen=True)
class ItemEnded:
    item_id: str
    # None when the item failed before its job was created (e.g. it was invalid).
    job_id: str | None
    status: ItemStatus
    # The item's own error (its message and ErrorInfo reason), for FAILED and CANCELLED.
    error: str | None = None
    reason: str | None = None


@dataclass(frozen=True)
class BatchFinished:
    batch_id: str
    succeeded: int
    failed: int
    cancelled: int
    images_delivered: int
    usage: Usage
    elapsed_ms: int


BatchEvent = BatchAccepted | ItemStarted | ItemImage | ItemEnded | BatchFinished
