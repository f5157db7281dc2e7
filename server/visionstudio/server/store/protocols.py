"""What the service needs of its stores; the backends are chosen by configuration."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from contextlib import AbstractAsyncContextManager
from typing import Protocol

from visionstudio.server.spec import Usage
from visionstudio.server.store.batch_records import (
    BatchItemRecord,
    BatchPage,
    BatchRecord,
    BatchStatus,
    ItemRequest,
    ItemStatus,
)
from visionstudio.server.store.records import (
    ImageRecord,
    JobPage,
    JobRecord,
    JobStatus,
    UsageTotals,
)


class BatchStore(Protocol):
    """Batches (RunBatch) and, per item, its request and the job that runs it. The SQL job
    stores are both."""

    async def create_batch(
        self, batch: BatchRecord, items: Sequence[ItemRequest]
    ) -> tuple[BatchRecord, bool]:
        """Inserts the batch (leased as batch.lease_owner/lease_until) and its items (PENDING),
        in one transaction, and returns (batch, True); when the caller already has a batch
        with batch.idempotency_key, inserts nothing and returns (it, False)."""
        ...

    async def get_batch(self, batch_id: str) -> BatchRecord | None: ...

    async def list_batch_items(self, batch_id: str) -> list[BatchItemRecord]:
        """The batch's items in request order."""
        ...

    async def get_item_request(self, batch_id: str, position: int) -> ItemRequest | None:
        """The item's stored request; None for an item stored without one."""
        ...

    async def update_batch_item(
        self,
        batch_id: str,
        position: int,
        status: ItemStatus,
        *,
        job_id: str | None = None,
        error: str | None = None,
    ) -> None: ...

    async def cancel_pending_items(self, batch_id: str, error: str) -> None:
        """Marks every item still PENDING cancelled, in one write."""
        ...

    async def finish_batch(self, batch_id: str, status: BatchStatus) -> None:
        """Records the end of a running batch; one already ended keeps its status."""
        ...

    async def claim_expired_batches(
        self, owner: str, lease_s: float, limit: int
    ) -> list[BatchRecord]:
        """Takes over up to `limit` running batches whose lease ran out (as claim_expired does
        jobs): each is leased to `owner` and returned; never claimed by two owners."""
        ...

    async def renew_batch_lease(self, batch_id: str, owner: str, lease_s: float) -> None: ...

    async def release_batch_lease(self, batch_id: str, owner: str) -> None:
        """Hands a running batch back: another replica claims it at once."""
        ...

    async def purge_batches(self, older_than: float) -> int:
        """Deletes the ended batches created before `older_than` (unix time) and their items;
        returns how many batches."""
        ...

    async def list_batches(
        self, caller: str, *, page_size: int = 50, page_token: str | None = None
    ) -> BatchPage:
        """The caller's batches, newest first (keyset pages, as list_jobs)."""
        ...

    @property
    def notifies(self) -> bool:
        """True when `changes` also hears other processes' changes (PostgreSQL LISTEN/NOTIFY);
        otherwise watchers poll as well."""
        ...

    def changes(self, key: str) -> AbstractAsyncContextManager[asyncio.Event]:
        """An event set whenever the job (key: its id) gets an image or ends, or the batch
        (its id) has an item change or ends (see store.changes)."""
        ...


class JobStore(BatchStore, Protocol):
    """Jobs and their images; the same store keeps batches (BatchStore)."""

    async def create_job(
        self, job: JobRecord, *, idempotency_window_s: float = 86400
    ) -> tuple[JobRecord, bool]:
        """Inserts `job` and returns (job, True).

        When job.idempotency_key is set and the same caller already has a job with that key
        created within the window, inserts nothing and returns (that job, False), atomically,
        also across replicas sharing a database. An expired holder of the key gives it up.
        """
        ...

    async def add_image(self, image: ImageRecord) -> None: ...

    async def finish_job(
        self,
        job_id: str,
        status: JobStatus,
        usage: Usage,
        error: str | None = None,
        *,
        release_key: bool = False,
    ) -> None:
        """Records the end of a job; `release_key` frees its idempotency key (for a request
        refused before any work, so a repeat is judged afresh). A job already cancelled keeps
        its status and reason; its usage is still recorded."""
        ...

    async def cancel_job(self, job_id: str, reason: str) -> None:
        """Marks a running job CANCELLED with `reason`; a job already ended is left as it is.
        The replica running it sees the status change and stops it."""
        ...

    async def claim_expired(self, owner: str, lease_s: float, limit: int) -> list[JobRecord]:
        """Takes over up to `limit` running jobs whose lease ran out (their replica died or
        handed them back): each is leased to `owner` for `lease_s` seconds and returned. A job
        is never claimed by two owners, also across replicas sharing a database."""
        ...

    async def renew_lease(self, job_id: str, owner: str, lease_s: float) -> None:
        """Extends `owner`'s lease on a running job to `lease_s` from now (no-op otherwise)."""
        ...

    async def release_lease(self, job_id: str, owner: str) -> None:
        """Hands a job back: its lease runs out at once, so another replica claims it."""
        ...

    async def get_job(self, job_id: str) -> JobRecord | None: ...

    async def get_image(self, image_id: str) -> ImageRecord | None:
        """The image, with `caller` filled from its job."""
        ...

    async def list_images(self, job_id: str) -> list[ImageRecord]:
        """The job's images in the order they were stored."""
        ...

    async def list_jobs(
        self,
        caller: str,
        *,
        status: JobStatus | None = None,
        created_after: float | None = None,
        created_before: float | None = None,
        page_size: int = 50,
        page_token: str | None = None,
    ) -> JobPage:
        """The caller's jobs, newest first; created_after <= created_at < created_before.

        The token is opaque and stable: keyset pagination on (created_at, id), so jobs created
        while paging neither shift nor repeat the pages. Raises ValueError for a bad token.
        """
        ...

    async def usage(
        self, caller: str, *, since: float | None = None, until: float | None = None
    ) -> UsageTotals:
        """The caller's jobs created in since <= created_at < until, their images and tokens."""
        ...

    async def purge(self, older_than: float) -> list[str]:
        """Deletes the jobs created before `older_than` (unix time) that are not running, and
        their image records; returns the deleted images' blob keys."""
        ...

    async def close(self) -> None: ...


class BlobStore(Protocol):
    """Image bytes by key."""

    async def put(self, key: str, data: bytes, content_type: str) -> None: ...

    async def get(self, key: str) -> bytes | None: ...

    async def delete(self, keys: Sequence[str]) -> None:
        """Deletes the keys; a key that does not exist is not an error."""
        ...

    async def presigned_url(self, key: str, ttl_s: int) -> str | None:
        """A URL that loads the blob for `ttl_s` seconds without credentials, or None when the
        store has no URLs of its own (the service then signs its own)."""
        ...

    async def close(self) -> None: ...
