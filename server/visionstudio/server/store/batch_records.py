"""What the store keeps of a batch: the batch and, per item, the job that runs it."""

from __future__ import annotations

import enum
import json
from dataclasses import dataclass
from typing import Any


class BatchStatus(enum.StrEnum):
    RUNNING = "running"
    # Every item succeeded.
    SUCCEEDED = "succeeded"
    # Some items succeeded, some failed.
    PARTIAL = "partial"
    # No item succeeded.
    FAILED = "failed"
    CANCELLED = "cancelled"


class ItemStatus(enum.StrEnum):
    # Waiting for its turn; no job yet.
    PENDING = "pending"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"


@dataclass(frozen=True)
class BatchItemRecord:
    batch_id: str
    position: int
    item_id: str
    status: ItemStatus = ItemStatus.PENDING
    # Set once the item's job exists.
    job_id: str | None = None
    # What failed or why it was cancelled.
    error: str | None = None


@dataclass(frozen=True)
class BatchRecord:
    id: str
    caller: str
    item_count: int
    status: BatchStatus = BatchStatus.RUNNING
    idempotency_key: str | None = None
    # Unix time.
    created_at: float = 0.0
    updated_at: float = 0.0
    # A hash of the items' requests: a repeat with the same key must send the same items.
    items_digest: str | None = None
    # The replica driving the running batch, and until when (unix seconds) it holds it.
    lease_owner: str | None = None
    lease_until: float = 0.0


@dataclass(frozen=True)
class ItemRequest:
    """An item's request as stored with its batch (`JobSpec.params`; the input images' bytes
    are in the blob store), so any replica can start the item."""

    item_id: str
    rpc: str
    params: dict[str, Any]

    def as_row(self) -> tuple[str, str]:
        """The rpc and params columns (params as JSON text, in both databases)."""
        return self.rpc, json.dumps(self.params)


@dataclass(frozen=True)
class BatchPage:
    batches: list[BatchRecord]
    # None on the last page.
    next_page_token: str | None
