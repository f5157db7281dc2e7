"""How many pixels prep holds decoded at once, across every job.

A 40 MP input decodes to over 100 MB, and compositing it back makes a few such copies: without
a bound, a handful of concurrent inpaints of small but huge-by-pixels PNGs takes gigabytes. Pixel
work runs in worker threads, so the budget is a thread-safe one; work bigger than the whole
budget runs alone instead of never.
"""

from __future__ import annotations

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
