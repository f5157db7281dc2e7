"""The process-wide settings `visionstudio-server` makes: its allocator's and its collector's."""

from __future__ import annotations

import ctypes
import ctypes.util
import gc

# New container objects between young collections (Python's default is 700). At 1,000 streams
# the default ran a young pass every few milliseconds, each promoting the streams' short-lived
# objects, so a full pass (GIL held: the loop and the health port's threads stop) of 0.1-1 s
# came every ~10 s. Far fewer survive 10,000, and an older pass stays bounded (50,000 made
# gen-1 passes of up to 0.8 s). README, Performance: a sixth of the GC pause under that load,
# no full pass, loop-lag max 58 ms instead of 570 ms (medians).
GC_YOUNG_THRESHOLD = 10_000

# glibc malloc. Below the mmap threshold blocks come from the heap and are reused once freed:
# an image's buffers (a 2.3 MB PNG, its 3.1 MB of base64, the messages and transport buffers
# carrying it) were each given fresh pages, faulted in and zeroed again, on every copy (#17: n=1
# gRPC added 17.6 -> 6.3 ms, an edit 31.2 -> 15.5 ms). Above it (Pillow's 16 MB pixel blocks)
# blocks come from mmap and go back to the OS when freed: glibc's own threshold slides up to the
# largest block freed, after which pixel blocks piled up in per-thread heaps (#15: 1.58 GB peak
# instead of ~620 MiB). A heap keeps up to the trim threshold of freed memory at its top.
MMAP_THRESHOLD_BYTES = 4 * 1024 * 1024
TRIM_THRESHOLD_BYTES = 16 * 1024 * 1024
_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3  # mallopt's parameters (malloc.h)


def tune_malloc() -> None:
    """Called before the service is built, so its first big blocks already follow the rule."""
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        libc.mallopt(_M_MMAP_THRESHOLD, MMAP_THRESHOLD_BYTES)
        libc.mallopt(_M_TRIM_THRESHOLD, TRIM_THRESHOLD_BYTES)
    except (OSError, AttributeError):
        pass  # not glibc: its allocator decides


def tune_gc() -> None:
    """Called once the service is built: what start-up made (~140,000 objects: modules, the
    app) lives as long as the process, so it is frozen out of every later pass."""
    gc.freeze()
    _, older, oldest = gc.get_threshold()
    gc.set_threshold(GC_YOUNG_THRESHOLD, older, oldest)
