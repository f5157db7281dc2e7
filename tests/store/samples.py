"""Jobs and images to store, distinct on every call."""

from __future__ import annotations

import uuid

from visionstudio.server.store import ImageRecord, JobRecord

# A fixed creation time, for jobs placed in time on purpose.
T0 = 1_700_000_000.0


def new_job(
    caller: str = "key-a",
    *,
    idempotency_key: str | None = None,
    request_hash: str | None = None,
    created_at: float = 0.0,
) -> JobRecord:
    return JobRecord(
        id=uuid.uuid4().hex,
        rpc="generate",
        caller=caller,
        model="gpt-image-2",
        params={"prompt": "an owl", "number_of_images": 2, "nested": {"a": [1, 2]}},
        created_at=created_at,
        idempotency_key=idempotency_key,
        request_hash=request_hash,
        number_of_images=2,
    )


def new_image(job_id: str, index: int) -> ImageRecord:
    image_id = uuid.uuid4().hex
    return ImageRecord(
        id=image_id,
        job_id=job_id,
        index=index,
        blob_key=f"images/{image_id}.png",
        mime_type="image/png",
        width=1024,
        height=768,
        size_bytes=1000 + index,
    )
