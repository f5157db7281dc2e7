"""The process-wide settings `visionstudio-server` makes: the allocator's before the service is
built, the collector's once it is."""

from __future__ import annotations

import gc
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from visionstudio.server.process_tuning import GC_YOUNG_THRESHOLD, tune_gc


@contextmanager
def tuned() -> Iterator[None]:
    """`tune_gc`, undone afterwards: the collector is the whole test process's."""
    before = gc.get_threshold()
    tune_gc()
    try:
        yield
    finally:
        gc.unfreeze()
        gc.set_threshold(*before)


def test_what_start_up_built_is_left_out_of_collections() -> None:
    built_at_start: list[object] = []
    with tuned():
        assert not any(o is built_at_start for o in gc.get_objects())
        made_later: list[object] = []
        assert any(o is made_later for o in gc.get_objects())


def test_young_collections_wait_for_many_new_objects() -> None:
    passes: list[int] = []

    def count(phase: str, info: dict[str, Any]) -> None:
        if phase == "start":
            passes.append(info["generation"])

    with tuned():
        gc.collect()
        gc.callbacks.append(count)
        try:
            kept: list[list[int]] = [[] for _ in range(GC_YOUNG_THRESHOLD * 9 // 10)]
        finally:
            gc.callbacks.remove(count)
    assert len(kept) > 700  # Python's default would have run a young pass by now
    assert passes == []


# Run in a process of its own: the allocator's settings are the whole process's.
ALLOCATIONS = """
import resource, sys
from visionstudio.server.process_tuning import tune_malloc

def rss_kib():
    with open("/proc/self/status") as status:
        return next(int(line.split()[1]) for line in status if line.startswith("VmRSS:"))

tune_malloc()
image = 3 << 20  # about a photo-sized PNG, or its base64
block = 16 << 20  # one of Pillow's pixel blocks
data = b"\\1" * image
del data
faults = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
for _ in range(20):
    data = b"\\1" * image
    del data
faults = resource.getrusage(resource.RUSAGE_SELF).ru_minflt - faults
before = rss_kib()
for _ in range(3):
    pixels = b"\\1" * block
    del pixels
print(faults, rss_kib() - before)
"""


def test_image_sized_buffers_are_reused_and_pixel_blocks_go_back_to_the_os() -> None:
    out = subprocess.run(
        [sys.executable, "-c", ALLOCATIONS], check=True, capture_output=True, text=True
    ).stdout
    faults, kept_kib = (int(word) for word in out.split())
    pages_per_image = (3 << 20) // 4096
    # Twenty fresh 3 MB buffers from new pages would fault about 15,000 times.
    assert faults < pages_per_image // 4, f"{faults} page faults for 20 reused 3 MB buffers"
    # Freed pixel blocks are not kept in the heap for later (one would be 16,384 KiB).
    assert kept_kib < 4096, f"{kept_kib} KiB kept after 16 MB blocks were freed"
