"""Which output sizes each upstream model accepts: the only place that knows."""

from __future__ import annotations

import math
from dataclasses import dataclass

from visionstudio.server.spec import AspectRatio

# Models that take any WIDTHxHEIGHT within the limits below.
FLEXIBLE_MODELS = frozenset(
    {
        "gpt-image-2",
        "gpt-image-2-2026-04-21",
        "gpt-image-2.5-sunburst",
        "gpt-image-2.5-sunburst-2026-09-08",
        "gpt-image-2.5-flare",
        "gpt-image-2.5-flare-2026-09-08",
    }
)
SHUT_DOWN_MODELS = frozenset({"gpt-image-1", "dall-e-2", "dall-e-3"})
STANDARD_SIZES = ((1024, 1024), (1536, 1024), (1024, 1536))

SIZE_STEP = 16
MIN_PIXELS = 655_360
MAX_PIXELS = 3840 * 2160
MAX_EDGE = 3840
MAX_SIDE_RATIO = 3.0

# What a flexible model is asked for, per ratio: about a megapixel, exact ratio, sides % 16 == 0.
FLEXIBLE_SIZES = {
    AspectRatio.SQUARE: (1024, 1024),
    AspectRatio.PORTRAIT_2_3: (1024, 1536),
    AspectRatio.LANDSCAPE_3_2: (1536, 1024),
    AspectRatio.PORTRAIT_3_4: (768, 1024),
    AspectRatio.LANDSCAPE_4_3: (1024, 768),
    AspectRatio.PORTRAIT_9_16: (720, 1280),
    AspectRatio.LANDSCAPE_16_9: (1280, 720),
}


@dataclass(frozen=True)
class ModelRules:
    model: str
    flexible: bool

    def accepts(self, width: int, height: int) -> bool:
        if not self.flexible:
            return (width, height) in STANDARD_SIZES
        return (
            width % SIZE_STEP == 0
            and height % SIZE_STEP == 0
            and max(width, height) / min(width, height) <= MAX_SIDE_RATIO
            and MIN_PIXELS <= width * height <= MAX_PIXELS
            and max(width, height) <= MAX_EDGE
        )

    def size_for_ratio(self, ratio: AspectRatio) -> tuple[int, int]:
        """The size to request for `ratio`; on fixed-size models the closest standard size."""
        if self.flexible:
            return FLEXIBLE_SIZES[ratio]
        return self._closest_standard(ratio.width / ratio.height)

    def size_for_canvas(self, width: int, height: int) -> tuple[int, int]:
        """An accepted size as close as possible in ratio to a `width`x`height` canvas."""
        if not self.flexible:
            return self._closest_standard(width / height)
        ratio = min(max(width / height, 1 / MAX_SIDE_RATIO), MAX_SIDE_RATIO)
        # About a megapixel, as the standard sizes are; sides rounded to the step.
        target = 1024 * 1024
        h = math.sqrt(target / ratio)
        w = h * ratio
        out_w = max(SIZE_STEP, round(w / SIZE_STEP) * SIZE_STEP)
        out_h = max(SIZE_STEP, round(h / SIZE_STEP) * SIZE_STEP)
        while out_w * out_h < MIN_PIXELS:
            out_w += SIZE_STEP
            out_h += SIZE_STEP
        return out_w, out_h

    @staticmethod
    def _closest_standard(ratio: float) -> tuple[int, int]:
        return min(STANDARD_SIZES, key=lambda s: abs(math.log((s[0] / s[1]) / ratio)))


def rules_for(model: str) -> ModelRules:
    if model in SHUT_DOWN_MODELS:
        raise ValueError(f"model {model!r} is shut down upstream; use e.g. gpt-image-2.5-flare")
    return ModelRules(model=model, flexible=model in FLEXIBLE_MODELS)
