"""A job's input images kept in the blob store while it runs, so any replica can carry it on."""

from __future__ import annotations

import dataclasses

from visionstudio.server.prep.fetch import Fetcher
from visionstudio.server.spec import ImageSource, JobSpec
from visionstudio.server.store import BlobStore

NAMES = ("image", "mask")


def input_key(job_id: str, name: str) -> str:
    return f"inputs/{job_id}/{name}"


async def store_inputs(
    spec: JobSpec, job_id: str, fetcher: Fetcher, blobs: BlobStore, *, caller: str
) -> JobSpec:
    """Stores the input images (fetched once, when given by URL) and returns the spec with
    their bytes, so nothing is fetched twice and a resumed job sees the very same inputs."""
    kept: list[ImageSource | None] = []
    for name, source in zip(NAMES, (spec.image, spec.mask), strict=True):
        if source is not None:
            data = source.data
            if source.url is not None:
                data = await fetcher.fetch(source.url, source.field, caller=caller)
            await blobs.put(input_key(job_id, name), data or b"", "application/octet-stream")
            source = ImageSource(field=source.field, data=data)
        kept.append(source)
    return dataclasses.replace(spec, image=kept[0], mask=kept[1])


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
