"""What a perf run measures under: the command line's settings, and the constants behind them."""

from __future__ import annotations

import os
from dataclasses import dataclass

CORES = os.cpu_count() or 0
PROMPT = "a lighthouse at dawn"  # one prompt: the upstream renders it once and reuses the bytes
SECTIONS = ("latency", "n4", "saturation", "rss", "ratelimit", "profile")
DEFAULT_SECTIONS = ("latency", "n4", "saturation", "rss")
# The image size the upstream is asked for per aspect ratio, as the server maps them for
# gpt-image-2.5-flare.
SIZES = {
    "1:1": (1024, 1024),
    "3:2": (1536, 1024),
    "2:3": (1024, 1536),
    "16:9": (1280, 720),
}


@dataclass(frozen=True)
class Config:
    latency_s: float
    n4_latency_s: float
    ratio: str
    photographic: bool
    repetitions: int
    streams: int
    rounds: int
    loops: tuple[str, ...]
    saturation_s: float
    saturation_streams: int
    saturation_latency_s: float
    rss_levels: tuple[int, ...]
    rss_latency_s: float
    rate_images_per_minute: int
    rate_s: float
    profile_s: float
    profiler: str

    @property
    def size(self) -> tuple[int, int]:
        return SIZES[self.ratio]

    def image(self, photographic: bool | None = None) -> str:
        w, h = self.size
        grainy = self.photographic if photographic is None else photographic
        return f"{w}x{h} PNG, {'photographic (~1.5 MB)' if grainy else 'flat (~50 KB)'}"
