"""The local store writes an image in slices (one large write() is slow on ext4): every byte
arrives in order whatever the slices and however little each write() takes, and a failed write
leaves neither the blob nor its temporary file."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from visionstudio.server.store import LocalBlobStore
from visionstudio.server.store import blobs as blobs_module

# Several slices and a partial last one.
IMAGE = os.urandom(blobs_module.WRITE_SLICE_BYTES * 3 + 12_345)


async def test_a_photo_sized_image_reads_back_byte_for_byte(tmp_path: Path) -> None:
    store = LocalBlobStore(tmp_path)
    await store.put("images/big.png", IMAGE, "image/png")
    assert await store.get("images/big.png") == IMAGE


async def test_short_writes_are_carried_on_where_they_stopped(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real_write = os.write

    def short_write(fd: int, data: bytes | memoryview) -> int:
        return real_write(fd, data[:7_777])  # as a write() interrupted by a signal may

    monkeypatch.setattr(os, "write", short_write)
    store = LocalBlobStore(tmp_path)
    await store.put("images/big.png", IMAGE, "image/png")
    assert (tmp_path / "images" / "big.png").read_bytes() == IMAGE


async def test_a_failed_write_leaves_nothing_behind(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def full_disk(fd: int, data: bytes | memoryview) -> int:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "write", full_disk)
    store = LocalBlobStore(tmp_path)
    with pytest.raises(OSError):
        await store.put("images/big.png", IMAGE, "image/png")
    assert list((tmp_path / "images").iterdir()) == []
