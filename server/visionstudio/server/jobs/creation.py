"""Creating a job's record, or finding the job an idempotent repeat belongs to."""

from __future__ import annotations

import asyncio
import time
from typing import Any

from visionstudio.server.errors import InvalidArgument
from visionstudio.server.jobs.links import new_id
from visionstudio.server.spec import JobSpec
from visionstudio.server.store import JobRecord, JobStore


async def new_record(
    spec: JobSpec, *, caller: str, model: str, lease: tuple[str, float]
) -> JobRecord:
    """The record a new job for `spec` gets, leased to lease = (owner, seconds)."""
    params, request_hash = await _described(spec)
    return JobRecord(
        id=new_id(),
        rpc=spec.operation.value,
        caller=caller,
        model=model,
        params=params,
        idempotency_key=spec.idempotency_key or None,
        request_hash=request_hash,
        number_of_images=spec.number_of_images,
        lease_owner=lease[0],
        lease_until=time.time() + lease[1],
    )


async def create_or_find(
    jobs: JobStore, wanted: JobRecord, *, idempotency_window_s: float
) -> tuple[JobRecord, bool]:
    """(`wanted`, stored, True), or (the job its idempotency key already names, False).

    Raises InvalidArgument when the key was used for a request with other parameters.
    """
    job, created = await jobs.create_job(wanted, idempotency_window_s=idempotency_window_s)
    if not created and job.request_hash != wanted.request_hash:
        raise InvalidArgument(
            "idempotency_key",
            f"was used for job {job.id} with other parameters; use a new key",
            reason="IDEMPOTENCY_KEY_REUSED",
        )
    return job, created


async def _described(spec: JobSpec) -> tuple[dict[str, Any], str | None]:
    """The spec's stored parameters and, when it has an idempotency key (the only time a repeat is
    compared), its fingerprint. Either may hash a whole input image (SHA-256 of 3 MB is about
    2 ms), so that runs in a worker thread, off the event loop: hashlib releases the GIL for large
    buffers. Without image bytes to hash the thread hop would only add latency."""

    def describe() -> tuple[dict[str, Any], str | None]:
        params = spec.params()
        return params, spec.fingerprint(params) if spec.idempotency_key else None

    sources = [s for s in (spec.image, spec.mask) if s is not None]
    data_urls = any(s.url is not None and s.url.startswith("data:") for s in sources)
    if data_urls or (spec.idempotency_key and sources):
        return await asyncio.to_thread(describe)
    return describe()
