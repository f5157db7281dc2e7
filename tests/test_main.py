"""The process set-up `visionstudio-server` does once the service is built."""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from visionstudio.server.main import GC_YOUNG_THRESHOLD, tune_gc


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
