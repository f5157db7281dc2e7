"""Creating a job's record, or finding the job an idempotent repeat belongs to."""

from __future__ import annotations

import time

from visionstudio.server.errors import InvalidArgument
from visionstudio.server.jobs.links import new_id
from visionstudio.server.spec import JobSpec
from visionstudio.server.store import JobRecord, JobStore


async def create_or_find(
    jobs: JobStore,
    spec: JobSpec,
    *,
    caller: str,
    model: str,
    idempotency_window_s: float,
    lease: tuple[str, float],
) -> tuple[JobRecord, bool]:
    """(the new job, leased to lease = (owner, seconds), True), or (the job this idempotency
    key already names, False).

    Raises InvalidArgument when the key was used for a request with other parameters.
    """
    wanted = JobRecord(
        id=new_id(),
        rpc=spec.operation.value,
        caller=caller,
        model=model,
        params=spec.params(),
        idempotency_key=spec.idempotency_key or None,
        request_hash=spec.fingerprint(),
        number_of_images=spec.number_of_images,
        lease_owner=lease[0],
        lease_until=time.time() + lease[1],
    )
    job, created = await jobs.create_job(wanted, idempotency_window_s=idempotency_window_s)
    if not created and job.request_hash != wanted.request_hash:
        raise InvalidArgument(
            "idempotency_key",
            f"was used for job {job.id} with other parameters; use a new key",
            reason="IDEMPOTENCY_KEY_REUSED",
        )
    return job, created
