"""How many pixels prep holds decoded at once, across every job.

A 40 MP input decodes to over 100 MB, and compositing it back makes a few such copies: without
a bound, a handful of concurrent inpaints of small but huge-by-pixels PNGs takes gigabytes. Pixel
work runs in worker threads, so the budget is a thread-safe one; work bigger than the whole
budget runs alone instead of never.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import threading
from collections.abc import Iterator
from contextlib import contextmanager


class PixelBudget:
    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self._free = capacity
        self._changed = threading.Condition()

    @property
    def held(self) -> int:
        return self.capacity - self._free

    @contextmanager
    def hold(self, pixels: int) -> Iterator[None]:
        """Blocks (the calling worker thread) until `pixels` are free, and holds them."""
        charge = max(0, min(pixels, self.capacity))
        with self._changed:
            self._changed.wait_for(lambda: self._free >= charge)
            self._free -= charge
        try:
            yield
        finally:
            with self._changed:
                self._free += charge
                self._changed.notify_all()


_M_MMAP_THRESHOLD = -3  # glibc's mallopt parameter


def return_freed_pixels_to_the_os(threshold: int = 1024 * 1024) -> None:
    """Pillow keeps pixels in 16 MB blocks. glibc raises its mmap threshold to the size of
    the largest block freed, after which such blocks come from per-thread heaps that keep
    their memory: a few threads of big images grew RSS far past what the budget holds. A
    fixed threshold sends every block to mmap and back to the OS when freed."""
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        libc.mallopt(_M_MMAP_THRESHOLD, threshold)
    except (OSError, AttributeError):
        pass  # not glibc: its allocator decides
