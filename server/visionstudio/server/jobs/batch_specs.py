"""A batch's items as stored with it, so any replica can start the items not started yet.

An item keeps its request as a job does (`JobSpec.params`) and its input images' own bytes in
the blob store (`inputs`): uploaded files, and `data:` URLs (which the parameters keep only as
a digest). Images given by an http(s) URL stay URLs: they are fetched when the item's job
starts, as for any job, not all at once when the batch is created.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from collections.abc import Sequence
from typing import Any

from visionstudio.server.jobs.inputs import NAMES, input_key
from visionstudio.server.spec import ImageSource, JobSpec, spec_from_params
from visionstudio.server.store import BlobStore
from visionstudio.server.store.batch_records import ItemRequest


@dataclasses.dataclass(frozen=True)
class BatchItem:
    item_id: str
    spec: JobSpec


def item_request(item: BatchItem) -> ItemRequest:
    return ItemRequest(item.item_id, item.spec.operation.value, item.spec.params())


def described_items(items: Sequence[BatchItem]) -> tuple[list[ItemRequest], str]:
    """Each item's request as stored, and what makes two batches the same request: each item's
    id and fingerprint, in order (its params made once for both: they hash `data:` URLs)."""
    requests = [item_request(item) for item in items]
    parts = [
        (item.item_id, item.spec.operation.value, item.spec.fingerprint(request.params))
        for item, request in zip(items, requests, strict=True)
    ]
    return requests, hashlib.sha256(json.dumps(parts).encode()).hexdigest()


def item_key(batch_id: str, position: int) -> str:
    """The item's own key in the blob store's inputs, and its job's idempotency key: a driver
    that restarts an item whose job was created just before a crash finds that job."""
    return f"batch-{batch_id}-{position}"


def _raw(source: ImageSource) -> bytes | None:
    if source.data is not None:
        return source.data
    if source.url is not None and source.url.startswith("data:"):
        return source.url.encode()
    return None


async def keep_inputs(batch_id: str, items: Sequence[BatchItem], blobs: BlobStore) -> None:
    for position, item in enumerate(items):
        for name, source in zip(NAMES, (item.spec.image, item.spec.mask), strict=True):
            if source is not None and (raw := _raw(source)) is not None:
                key = input_key(item_key(batch_id, position), name)
                await blobs.put(key, raw, "application/octet-stream")


async def drop_inputs(batch_id: str, item_count: int, blobs: BlobStore) -> None:
    """Once the batch has ended (each started item's job keeps its own copy while it runs)."""
    keys = [
        input_key(item_key(batch_id, position), name)
        for position in range(item_count)
        for name in NAMES
    ]
    await blobs.delete(keys)


async def load_spec(
    request: ItemRequest, batch_id: str, position: int, blobs: BlobStore
) -> JobSpec | None:
    """The item's spec as it was asked, or None when an input image is no longer stored.
    Raises KeyError or ValueError for parameters that cannot be read."""
    spec = spec_from_params(request.rpc, request.params)
    sources: list[ImageSource | None] = []
    for name in NAMES:
        stored: dict[str, Any] | None = request.params[name]
        if stored is None:
            sources.append(None)
        elif "url" in stored:
            sources.append(ImageSource(stored["field"], url=stored["url"]))
        else:
            raw = await blobs.get(input_key(item_key(batch_id, position), name))
            if raw is None:
                return None
            if "data_url_sha256" in stored:
                sources.append(ImageSource(stored["field"], url=raw.decode()))
            else:
                sources.append(ImageSource(stored["field"], data=raw))
    return dataclasses.replace(spec, image=sources[0], mask=sources[1])
