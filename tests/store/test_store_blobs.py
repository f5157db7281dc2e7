"""One contract for every BlobStore: the local directory and S3 (moto's server on loopback)."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest
from aiobotocore.session import get_session
from visionstudio.server.store import BlobStore, LocalBlobStore, S3BlobStore
from visionstudio.server.store import s3 as s3_module

from tests.support.store_services import S3Server, s3_bucket, s3_server  # noqa: F401

PNG = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 4


@pytest.fixture(params=["local", "s3"])
async def blobs(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[BlobStore]:
    store: BlobStore
    if request.param == "local":
        store = LocalBlobStore(tmp_path / "blobs")
    else:
        # (An async fixture cannot be requested by name from another one: the server is sync.)
        server: S3Server = request.getfixturevalue("s3_server")
        bucket = await server.create_bucket(request.getfixturevalue("monkeypatch"))
        store = await S3BlobStore.open(bucket, "stage/images")
    try:
        yield store
    finally:
        await store.close()


async def test_put_then_get_and_overwrite(blobs: BlobStore) -> None:
    await blobs.put("images/a.png", PNG, "image/png")
    assert await blobs.get("images/a.png") == PNG
    await blobs.put("images/a.png", b"second", "image/png")
    assert await blobs.get("images/a.png") == b"second"


async def test_a_missing_key_reads_as_none(blobs: BlobStore) -> None:
    assert await blobs.get("images/never-stored.png") is None


async def test_delete_removes_the_keys_and_ignores_missing_ones(blobs: BlobStore) -> None:
    for name in "abc":
        await blobs.put(f"images/{name}.png", name.encode(), "image/png")
    await blobs.delete(["images/a.png", "images/c.png", "images/missing.png"])
    await blobs.delete([])
    assert [await blobs.get(f"images/{name}.png") for name in "abc"] == [None, b"b", None]


@pytest.mark.parametrize("key", ["../escape.png", "images/../x", "/abs.png", "", "a b"])
async def test_keys_the_service_would_not_make_are_refused(blobs: BlobStore, key: str) -> None:
    with pytest.raises(ValueError, match="invalid blob key"):
        await blobs.put(key, b"x", "image/png")
    with pytest.raises(ValueError, match="invalid blob key"):
        await blobs.get(key)


async def test_the_local_directory_has_no_urls_of_its_own(tmp_path: Path) -> None:
    store = LocalBlobStore(tmp_path)
    await store.put("images/a.png", PNG, "image/png")
    assert await store.presigned_url("images/a.png", 60) is None
    assert (tmp_path / "images" / "a.png").read_bytes() == PNG


async def test_an_s3_presigned_url_loads_with_its_content_type(s3_bucket: str) -> None:  # noqa: F811
    store = await S3BlobStore.open(s3_bucket, "stage")
    try:
        await store.put("images/a.webp", PNG, "image/webp")
        url = await store.presigned_url("images/a.webp", 300)
    finally:
        await store.close()
    assert url is not None and "X-Amz-Expires=300" in url
    # No credentials: the signature in the URL is the only one.
    async with aiohttp.ClientSession() as http, http.get(url) as response:
        assert response.status == 200
        assert response.headers["Content-Type"] == "image/webp"
        assert await response.read() == PNG


async def test_s3_objects_live_under_the_prefix(s3_bucket: str) -> None:  # noqa: F811
    store = await S3BlobStore.open(s3_bucket, "/stage/images/")
    try:
        await store.put("images/a.png", PNG, "image/png")
    finally:
        await store.close()
    async with get_session().create_client("s3", region_name=os.environ["AWS_REGION"]) as client:
        listed = await client.list_objects_v2(Bucket=s3_bucket)
        head = await client.head_object(Bucket=s3_bucket, Key="stage/images/images/a.png")
    assert [o.get("Key") for o in listed.get("Contents", [])] == ["stage/images/images/a.png"]
    assert head["ContentType"] == "image/png"


async def test_s3_deletes_in_batches(
    s3_bucket: str,  # noqa: F811
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(s3_module, "_DELETE_BATCH", 2)
    store = await S3BlobStore.open(s3_bucket)
    try:
        keys = [f"images/{i}.png" for i in range(5)]
        for key in keys:
            await store.put(key, b"x", "image/png")
        await store.delete(keys)
        assert [await store.get(key) for key in keys] == [None] * 5
    finally:
        await store.close()
