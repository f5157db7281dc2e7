"""A job's input images kept in the blob store while it runs, so any replica can carry it on."""

from __future__ import annotations

import dataclasses

from visionstudio.server.prep.fetch import Fetcher
from visionstudio.server.spec import ImageSource, JobSpec
from visionstudio.server.store import BlobStore

NAMES = ("image", "mask")


def input_key(job_id: str, name: str) -> str:
    return f"inputs/{job_id}/{name}"


async def fetch_inputs(spec: JobSpec, fetcher: Fetcher, *, caller: str) -> JobSpec:
    """The spec with its input images' bytes: those given by URL are fetched, once, so a resumed
    job sees the very same inputs."""
    kept: list[ImageSource | None] = []
    for source in (spec.image, spec.mask):
        if source is not None and source.url is not None:
            data = await fetcher.fetch(source.url, source.field, caller=caller)
            source = ImageSource(field=source.field, data=data)
        kept.append(source)
    return dataclasses.replace(spec, image=kept[0], mask=kept[1])


async def store_inputs(spec: JobSpec, job_id: str, blobs: BlobStore) -> None:
    """Stores the fetched inputs of `spec`, so any replica can carry the job on."""
    for name, source in zip(NAMES, (spec.image, spec.mask), strict=True):
        if source is not None:
            data = source.data or b""
            await blobs.put(input_key(job_id, name), data, "application/octet-stream")


async def load_inputs(spec: JobSpec, job_id: str, blobs: BlobStore) -> JobSpec | None:
    """The spec with its stored inputs' bytes, or None when one of them is gone."""
    kept: list[ImageSource | None] = []
    for name, source in zip(NAMES, (spec.image, spec.mask), strict=True):
        if source is not None:
            data = await blobs.get(input_key(job_id, name))
            if data is None:
                return None
            source = ImageSource(field=source.field, data=data)
        kept.append(source)
    return dataclasses.replace(spec, image=kept[0], mask=kept[1])


async def delete_inputs(job_id: str, blobs: BlobStore) -> None:
    """Once a job has ended its inputs are not needed any more."""
    await blobs.delete([input_key(job_id, name) for name in NAMES])
