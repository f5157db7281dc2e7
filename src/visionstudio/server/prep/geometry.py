"""Rectangles and ratios: which part of an image to keep, and where a border goes."""

from __future__ import annotations

from dataclasses import dataclass

from visionstudio.server.spec import AspectRatio


def largest_with_ratio(width: int, height: int, ratio: AspectRatio) -> tuple[int, int]:
    """The largest size with exactly `ratio` that fits in `width`x`height`."""
    k = min(width // ratio.width, height // ratio.height)
    return ratio.width * k, ratio.height * k


def centered_box(width: int, height: int, inner: tuple[int, int]) -> tuple[int, int, int, int]:
    left = (width - inner[0]) // 2
    top = (height - inner[1]) // 2
    return left, top, left + inner[0], top + inner[1]


@dataclass(frozen=True)
class BorderCanvas:
    """An image grown by a fraction of its size on every side, the original in the middle."""

    width: int
    height: int
    left: int
    top: int

    @classmethod
    def around(cls, width: int, height: int, fraction: float) -> BorderCanvas:
        dx = round(width * fraction)
        dy = round(height * fraction)
        return cls(width=width + 2 * dx, height=height + 2 * dy, left=dx, top=dy)
