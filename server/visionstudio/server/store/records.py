"""What the job store keeps: jobs, their images, and pages and totals of them."""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Any

from visionstudio.server.spec import Usage


class JobStatus(enum.StrEnum):
    """A StrEnum, so a status still compares equal to (and is stored as) its plain string."""

    RUNNING = "running"
    SUCCEEDED = "succeeded"
    PARTIAL = "partial"
    FAILED = "failed"
    CANCELLED = "cancelled"


@dataclass(frozen=True)
class ImageRecord:
    id: str
    job_id: str
    index: int
    blob_key: str
    mime_type: str
    width: int
    height: int
    size_bytes: int
    # The key id of the job's caller (filled when read back).
    caller: str | None = None
    # Unix time it was stored (filled when read back).
    created_at: float = 0.0
    # What the provider charged for it, and the deployment that made it.
    usage: Usage | None = None
    deployment: str | None = None


@dataclass
class JobRecord:
    id: str
    rpc: str
    caller: str
    model: str
    params: dict[str, Any]
    status: JobStatus = JobStatus.RUNNING
    usage: Usage | None = None
    error: str | None = None
    # Unix time; 0 means "now" (create_job stamps it).
    created_at: float = 0.0
    updated_at: float = 0.0
    idempotency_key: str | None = None
    # A hash of the canonical parameters, to detect a key reused with other parameters.
    request_hash: str | None = None
    number_of_images: int = 1
    # The replica making a running job, and until when (unix time); see claim_expired.
    lease_owner: str | None = None
    lease_until: float = 0.0


@dataclass(frozen=True)
class JobPage:
    jobs: list[JobRecord]
    # None on the last page.
    next_page_token: str | None


@dataclass(frozen=True)
class UsageTotals:
    jobs: int
    images: int
    usage: Usage
